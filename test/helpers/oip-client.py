#!/usr/bin/env python3
"""A client of the Open Inference Protocol (KServe v2) over HTTP/REST,
written from the protocol's text with the standard library only (urllib,
json): it checks the server is live and ready, reads the model's metadata,
posts the parity fixture's images as one UINT8 [N, H, W, 3] tensor to
/v2/models/NAME/infer, and compares the outputs with the probabilities and
logits torchvision computed for them.

    python3 oip-client.py BASE_URL MODEL_NAME FIXTURE.json [TOLERANCE]

Prints one JSON line; exits 0 when every output is within TOLERANCE
(default 1e-4) of torchvision's, 1 when not, 2 when the server answers
against the protocol.
"""
import hashlib
import json
import sys
import urllib.error
import urllib.request


def call(url, body=None):
    """GET (or POST a JSON body); the status and the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def fail(message):
    print(json.dumps({"error": message}))
    sys.exit(2)


def parity_images(count, size):
    """The fixture's images, NHWC RGB uint8, from its closed-form pixel formula."""
    values = bytearray(count * size * size * 3)
    k = 0
    for n in range(count):
        for y in range(size):
            for x in range(size):
                for c in range(3):
                    v = x * (3 + n) + y * (5 + 2 * n) + c * (60 + 20 * n) + ((x * y * (n + 1)) % 97) + 41 * n
                    values[k] = v % 256
                    k += 1
    return bytes(values)


def max_abs_diff(flat, rows):
    classes = len(rows[0])
    if len(flat) != len(rows) * classes:
        fail(f"an output has {len(flat)} values, expected {len(rows) * classes}")
    return max(abs(flat[n * classes + c] - want) for n, row in enumerate(rows) for c, want in enumerate(row))


def main():
    base, name, fixture_path = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    tolerance = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-4
    with open(fixture_path, encoding="utf-8") as f:
        fixture = json.load(f)

    # Health: "server live" and "server ready" answer 200 when true.
    for path, key in (("/v2/health/live", "live"), ("/v2/health/ready", "ready")):
        status, body = call(base + path)
        if status != 200 or body.get(key) is not True:
            fail(f"{path}: {status} {body}")
    status, server = call(base + "/v2")
    if status != 200 or not isinstance(server.get("name"), str) or not isinstance(server.get("extensions"), list):
        fail(f"/v2: {status} {server}")

    # Model metadata: one input with a variable batch dimension, the outputs by name.
    status, metadata = call(f"{base}/v2/models/{name}")
    if status != 200 or metadata.get("name") != name:
        fail(f"model metadata: {status} {metadata}")
    inputs = metadata["inputs"]
    if len(inputs) != 1 or inputs[0]["datatype"] != "UINT8" or inputs[0]["shape"][0] != -1 or inputs[0]["shape"][3] != 3:
        fail(f"unexpected input: {inputs}")
    size = inputs[0]["shape"][1]
    outputs = {o["name"]: o for o in metadata["outputs"]}
    if set(outputs) != {"probabilities", "logits"}:
        fail(f"unexpected outputs: {metadata['outputs']}")
    status, ready = call(f"{base}/v2/models/{name}/ready")
    if status != 200 or ready.get("ready") is not True:
        fail(f"model ready: {status} {ready}")

    count = fixture["images"]["count"]
    if size != fixture["images"]["height"]:
        fail(f"the model takes {size}px images, the fixture has {fixture['images']['height']}px")
    pixels = parity_images(count, size)
    if hashlib.sha256(pixels).hexdigest() != fixture["images"]["sha256"]:
        fail("the images made here are not the fixture's")

    request = {
        "id": "parity-1",
        "inputs": [{"name": "image", "shape": [count, size, size, 3], "datatype": "UINT8", "data": list(pixels)}],
        "outputs": [{"name": "probabilities"}, {"name": "logits"}],
    }
    status, answer = call(f"{base}/v2/models/{name}/infer", request)
    if status != 200:
        fail(f"infer: {status} {answer}")
    if answer.get("model_name") != name or answer.get("id") != "parity-1":
        fail(f"infer answered for {answer.get('model_name')} / id {answer.get('id')}")
    got = {o["name"]: o for o in answer["outputs"]}
    classes = json.loads(got["probabilities"]["parameters"]["classes"])
    for o in got.values():
        if o["datatype"] != "FP32" or o["shape"] != [count, len(classes)]:
            fail(f"output {o['name']}: {o['datatype']} {o['shape']}")

    diffs = {
        "max_probability_diff": max_abs_diff(got["probabilities"]["data"], fixture["probabilities"]),
        "max_logit_diff": max_abs_diff(got["logits"]["data"], fixture["logits"]),
    }
    within = all(d <= tolerance for d in diffs.values())
    print(json.dumps({"images": count, "classes": classes, "model_version": answer.get("model_version"), "tolerance": tolerance, "within": within, **diffs}))
    sys.exit(0 if within else 1)


if __name__ == "__main__":
    main()
