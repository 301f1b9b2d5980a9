# Uploads as Python's http.client sends them: the whole body first, the
# answer read only afterwards (as urllib and Locust do). For each case prints
# one JSON line: the status and error code it got, or the exception when the
# connection broke instead (BrokenPipeError, ConnectionResetError...).
#
#   python3 hostile-upload.py HOST PORT SIZE_BYTES[,SIZE...] [plain,chunked,multipart] [IMAGE]
#
# Bodies are zeros, generated 1 MiB at a time (never held whole); with IMAGE,
# that file is also posted once, raw, first.
import http.client
import json
import sys

CHUNK = 1 << 20


def zeros(n):
    """n bytes in 1 MiB pieces: the body is generated, never held whole."""
    piece = b"\0" * CHUNK
    while n >= CHUNK:
        yield piece
        n -= CHUNK
    if n:
        yield b"\0" * n


def multipart(n, boundary):
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"x.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    yield head
    yield from zeros(n)
    yield tail


def send(host, port, size, kind):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {}
    boundary = "hostileboundary7MA4YWxkTrZu0gW"
    try:
        if kind == "plain":
            headers["Content-Length"] = str(size)
            headers["Content-Type"] = "image/jpeg"
            conn.request("POST", "/predict", body=zeros(size), headers=headers)
        elif kind == "chunked":
            headers["Content-Type"] = "image/jpeg"
            conn.request("POST", "/predict", body=zeros(size), headers=headers, encode_chunked=True)
        else:
            extra = len(multipart(0, boundary).__next__()) + len(f"\r\n--{boundary}--\r\n")
            headers["Content-Length"] = str(size + extra)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            conn.request("POST", "/predict", body=multipart(size, boundary), headers=headers)
        res = conn.getresponse()
        text = res.read()
        out = {"status": res.status, "content_type": res.getheader("Content-Type")}
        try:
            out["code"] = json.loads(text)["error"]["code"]
        except Exception:
            out["body"] = text[:200].decode("latin1")
        return out
    except Exception as error:  # the connection broke: what the suite must never see
        return {"exception": type(error).__name__, "message": str(error)[:200]}
    finally:
        conn.close()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sizes = [int(s) for s in sys.argv[3].split(",")]
    kinds = sys.argv[4].split(",") if len(sys.argv) > 4 else ["plain", "chunked", "multipart"]
    if len(sys.argv) > 5:
        with open(sys.argv[5], "rb") as f:
            image = f.read()
        conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.request("POST", "/predict", body=image, headers={"Content-Type": "image/jpeg"})
        res = conn.getresponse()
        print(json.dumps({"size": len(image), "kind": "image", "status": res.status,
                          "content_type": res.getheader("Content-Type"), "body": res.read()[:200].decode()}), flush=True)
        conn.close()
    for size in sizes:
        for kind in kinds:
            result = send(host, port, size, kind)
            print(json.dumps({"size": size, "kind": kind, **result}), flush=True)


main()
