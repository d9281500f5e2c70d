"""`vggish`, the BAH challenge baseline's audio embedding: declared here, built by `_vggish.py`."""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.encoders.weights import ManualFile

register_encoder(EncoderInfo(
    "vggish", "audio", "vggish-10086976.pth (torchvggish; the BAH dataset authors' audio model)",
    {"paper": 128, "tiny": 32},
    "VGGish raw 128-d embedding per 0.96 s log-mel patch, one patch every 40 ms (the BAH challenge baseline's audio "
    "features); its checkpoint comes from the torchvggish release, by hand (--weights)",
    family="abaw_bench.harness.encoders._vggish",
    sources=(ManualFile("vggish-10086976.pth", "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
                                               "vggish-10086976.pth (the torchvggish release the BAH dataset "
                                               "authors load)"),)))
