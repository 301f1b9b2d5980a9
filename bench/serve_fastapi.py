"""The seed project's serving stack, as the baseline for bench/serve-compare.ts.

FastAPI + uvicorn + PyTorch: one image per forward pass, the model run inside
the request handler, multipart field `data` — the shape of the original
service. Same architecture (torchvision resnet18), input size and thread count
as the torchdog service it is compared with; weights are random (speed only).

    /usr/bin/python3 bench/serve_fastapi.py --port 8766 --threads 2 --classes 2
"""
import argparse
import io

import torch
import torchvision
import uvicorn
from fastapi import FastAPI, File, UploadFile
from PIL import Image
from torchvision import transforms

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=8766)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--classes", type=int, default=2)
parser.add_argument("--size", type=int, default=128)
args = parser.parse_args()

torch.set_num_threads(args.threads)
model = torchvision.models.resnet18(num_classes=args.classes).eval()
preprocess = transforms.Compose([
    transforms.Resize((args.size, args.size)),
    transforms.ToTensor(),
    transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
])
labels = ["hotdog", "nothotdog"] + [f"class{i}" for i in range(2, args.classes)]
app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(data: UploadFile = File(...)):
    image = Image.open(io.BytesIO(data.file.read())).convert("RGB")
    with torch.no_grad():
        probabilities = torch.softmax(model(preprocess(image).unsqueeze(0)), dim=1)[0]
    best = int(probabilities.argmax())
    return {
        "category": labels[best],
        "probability": float(probabilities[best]),
        "probabilities": {labels[i]: float(p) for i, p in enumerate(probabilities)},
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
