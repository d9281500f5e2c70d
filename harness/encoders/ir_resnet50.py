"""`ir-resnet50`, the BAH dataset authors' face model: declared here, built by `_ir_resnet50.py`."""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.encoders.weights import ManualFile

register_encoder(EncoderInfo(
    "ir-resnet50", "image", "res50_ir_0.887.pth (the BAH dataset authors' face model)", {"paper": 512, "tiny": 64},
    "IR-ResNet-50 face model of the BAH dataset authors on 40 px crops, L2-normalised 512-d embedding per face "
    "image; its checkpoint comes from the authors, by hand (--weights)",
    family="abaw_bench.harness.encoders._ir_resnet50",
    sources=(ManualFile("res50_ir_0.887.pth", "the BAH dataset authors' Google Drive folder, linked from the README "
                                              "of github.com/sbelharbi/bah-dataset"),)))
