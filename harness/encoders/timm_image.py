"""The timm image backbones on face crops: declared here, built by `_timm_image.py`."""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo

FAMILY = "abaw_bench.harness.encoders._timm_image"

register_encoder(EncoderInfo(
    "mobilenetv3", "image", "timm/mobilenetv3_large_100.ra_in1k", {"paper": 1280, "tiny": 1024},
    "timm mobilenetv3_large_100 (num_classes=0) at 112 px per face image; tiny = mobilenetv3_small_050", family=FAMILY))

register_encoder(EncoderInfo(
    "efficientnetv2", "image", "timm/efficientnetv2_rw_t.ra2_in1k", {"paper": 1024, "tiny": 256},
    "timm efficientnetv2_rw_t (num_classes=0) at 112 px per face image, the EfficientNetV2 size wen2024's expression "
    "code builds; tiny = timm test_efficientnet at 48 px", family=FAMILY))

register_encoder(EncoderInfo(
    "resnet50", "image", "timm/resnet50.a1_in1k", {"paper": 2048, "tiny": 256},
    "timm resnet50 (num_classes=0) at 224 px per face image. wen2024's 'ResNet' features used face-pretrained "
    "weights (MERBench's VGGFace2 -> FER+ ResNet-50): convert them to a timm resnet50 state dict and pass --weights; "
    "without --weights the paper preset loads the ImageNet checkpoint named here", family=FAMILY))

register_encoder(EncoderInfo(
    "seresnet50", "image", "timm/seresnet50.a1_in1k", {"paper": 2048, "tiny": 256},
    "timm seresnet50 (num_classes=0) at 224 px per face image. wen2024's 'SENet' features used face-pretrained "
    "weights (MERBench's VGGFace2 -> FER+ SENet-50): convert them to a timm seresnet50 state dict and pass "
    "--weights; without --weights the paper preset loads the ImageNet checkpoint named here", family=FAMILY))

register_encoder(EncoderInfo(
    "eva02-large", "image", "timm/eva02_large_patch14_224.mim_in22k", {"paper": 1024, "tiny": 32},
    "timm eva02_large_patch14_224 MIM ImageNet-22k (num_classes=0: mean of the patch tokens) at 224 px per face "
    "image", family=FAMILY))
