"""`abaw-bench info`: what a system variant consumes and how big it is, without downloading anything.

The head is built with random weights on the meta device (no memory, no download) from the preset's input widths;
unfrozen encoders are counted the same way (`harness.encoders.build_random`), as they train (`make_trainable`: a text
encoder without its unread pooler; under centred sampling with the [ATTENTION] token's embedding row, added when the
vocabulary has no free row). `trainable_parameters` is the head's plus every fine-tuned encoder's.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from abaw_bench.harness.cli._common import RUN_PRESET, add_command, add_json_arg, add_task_arg

EXAMPLES = """\
  abaw-bench info --system hallmen2024 --task emi                       # as 'run' builds it on the demo
  abaw-bench info --system hallmen2025 --task emi --variant text-audio-vision --preset paper --json
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "info", help="inputs, parameter counts and hyper-parameters of a variant",
                         description="Show a system variant's inputs (encoders or provided features and their "
                                     "widths under the preset), the trainable parameter counts of its head and of "
                                     "any encoder it fine-tunes, the head's layers, and its hyper-parameters: the "
                                     "model's knobs under the preset and the engine's (both set with --hyper). "
                                     "Nothing is downloaded: models are built on the meta device.",
                         examples=EXAMPLES)
    parser.add_argument("--system", required=True, metavar="S", help="system name (see `abaw-bench systems`)")
    add_task_arg(parser)
    parser.add_argument("--variant", default=None, metavar="V", help="variant (default: the system's)")
    parser.add_argument("--preset", choices=("paper", "tiny"), default=RUN_PRESET,
                        help="encoder preset (the same default as 'abaw-bench run'; paper: the published sizes)")
    add_json_arg(parser)
    parser.set_defaults(handler=run)


def _input_dim(encoder_name: str, preset: str) -> tuple[int, str]:
    from abaw_bench.harness.encoders import encoder_info
    from abaw_bench.harness.train.inputs import PROVIDED_DIMS, PROVIDED_PREFIX

    if encoder_name.startswith(PROVIDED_PREFIX):
        kind = encoder_name[len(PROVIDED_PREFIX):]
        return PROVIDED_DIMS[kind], f"the organisers' {kind}/<id>.pkl features"
    info = encoder_info(encoder_name)
    return info.output_dims[preset], f"{info.modality} encoder {info.model_id}"


def input_dims(spec: Any, task: str, inputs: tuple[str, ...], preset: str) -> dict[str, int]:
    """The width D of each input of a row under `preset` (what `build_model` receives as `input_dims`)."""
    return {name: _input_dim(spec.encoder_for(task, name, preset), preset)[0] for name in inputs}


def _description(encoder_name: str) -> str | None:
    """The encoder registry's description (where its weights come from), None for the organisers' features."""
    from abaw_bench.harness.encoders import encoder_info
    from abaw_bench.harness.train.inputs import PROVIDED_PREFIX

    return None if encoder_name.startswith(PROVIDED_PREFIX) else encoder_info(encoder_name).description


def _count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def describe(system: str, task: str, variant_name: str | None, preset: str) -> dict[str, Any]:
    import torch
    from abaw_bench.harness.encoders import build_random
    from abaw_bench.harness.systems import get_system

    spec = get_system(system)
    variant = spec.variant(task, variant_name)
    hyper, knobs = spec.hyper_for(task, variant), spec.knobs_for(task, variant, preset)
    inputs, dims = [], {}
    for name in variant.inputs:
        encoder = spec.encoder_for(task, name, preset)
        dims[name], source = _input_dim(encoder, preset)
        inputs.append({"name": name, "encoder": encoder, "dim": dims[name], "source": source,
                       "description": _description(encoder), "unfrozen": name in variant.unfrozen,
                       "transcript": spec.transcript_for(task, name, preset)})
    with torch.device("meta"):
        head = spec.build_model(task, variant, dims, knobs, hyper)
    modules = [{"name": name, "module": type(module).__name__, "parameters": _count(module)}
               for name, module in head.named_children()]
    layers = [{"name": name, "module": type(module).__name__, "repr": repr(module).split("\n")[0],
               "parameters": sum(p.numel() for p in module.parameters(recurse=False))}
              for name, module in head.named_modules() if name and not list(module.children())]
    encoders = {}
    for entry in inputs:
        if entry["unfrozen"]:
            built = build_random(entry["encoder"], preset, device="meta").make_trainable()
            count = _count(built.model)
            encoders[entry["name"]] = {"encoder": entry["encoder"], "trainable_parameters": count}
            if built.info.modality == "text" and hyper.sampling == "centred":
                from abaw_bench.harness.encoders._text import transformer_of
                from abaw_bench.harness.features.text_windows import ATTENTION_TOKEN, marker_rows_added

                rows, width = transformer_of(built.model).get_input_embeddings().weight.shape
                added = marker_rows_added(int(rows), built.tokenizer) * int(width)
                encoders[entry["name"]].update(trainable_parameters=count + added, marker_token=ATTENTION_TOKEN,
                                               marker_parameters_added=added)
    total = _count(head) + sum(encoder["trainable_parameters"] for encoder in encoders.values())
    return {"system": spec.name, "task": task, "variant": variant.name, "row": variant.row, "preset": preset,
            "inputs": inputs, "trainable_parameters": total,
            "head": {"trainable_parameters": _count(head), "modules": modules, "layers": layers},
            "unfrozen_encoders": encoders, "hyper": asdict(hyper), "model": knobs.values(),
            "recipes": {name: dict(overrides) for name, overrides in spec.recipes.get(task, {}).items()},
            "demo_schedule": spec.demo_schedule(task, variant),
            "notes": list(variant.notes), "train_splits": list(variant.train_splits),
            "reuse_best_epoch_of": variant.reuse_best_epoch_of, "paper": dict(variant.paper)}


def run(args: argparse.Namespace) -> int:
    info = describe(args.system, args.task, args.variant, args.preset)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['system']} / {info['task']} / {info['variant']}  ({info['row']}), preset {info['preset']}")
    print("inputs:")
    for entry in info["inputs"]:
        extra = " (fine-tuned end to end)" if entry["unfrozen"] else ""
        transcript = f"; transcript: {entry['transcript']}" if entry["transcript"] else ""
        print(f"  {entry['name']:<18} D={entry['dim']:<6} {entry['encoder']}: {entry['source']}{transcript}{extra}")
        if entry["description"]:
            print(f"  {'':<18} {entry['description']}")
    print(f"head: {info['head']['trainable_parameters']:,} trainable parameters; by module:")
    for module in info["head"]["modules"]:
        print(f"  {module['name']:<32} {module['module']:<60} {module['parameters']:>12,}")
    print("head layers:")
    for layer in info["head"]["layers"]:
        print(f"  {layer['name']:<32} {layer['repr']:<60} {layer['parameters']:>12,}")
    for name, encoder in info["unfrozen_encoders"].items():
        marker = f", the {encoder['marker_token']} token's embedding row included" if "marker_token" in encoder \
            else ""
        print(f"unfrozen encoder {name} ({encoder['encoder']}): {encoder['trainable_parameters']:,} trainable "
              f"parameters (fine-tuned with the head{marker})")
    print(f"trainable in all: {info['trainable_parameters']:,} parameters")
    for title, values in (("model knobs", info["model"]), ("engine knobs", info["hyper"])):
        print(f"{title} (--hyper KEY=VALUE):")
        for key, value in values.items():
            print(f"  {key:<24} {value}")
    for name, overrides in info["recipes"].items():
        changes = ", ".join(f"{key}={value}" for key, value in overrides.items())
        print(f"recipe {name!r} (--hyper recipe={name}): {changes}")
    if info["demo_schedule"]:
        changes = ", ".join(f"{key}={value}" for key, value in info["demo_schedule"].items())
        print(f"demo schedule (runs on the embedded demo only; flags and --hyper override it): {changes}")
    if info["reuse_best_epoch_of"]:
        print(f"trains on {'+'.join(info['train_splits'])} for the best epoch count of {info['reuse_best_epoch_of']}")
    for note in info["notes"]:
        print(f"note: {note}")
    return 0
