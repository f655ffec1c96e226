"""The ``tacrefine`` console command: one verb per script, each delegating to its ``main(argv)``.

Why a dispatcher and not one big parser: every verb's parser already lives in its
``tacrefine.cli.<module>`` (and ``scripts/*.py`` call the same ``main``), so the command
only maps a verb to a module, and each verb's ``--help`` is that module's own.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: verb -> (module under tacrefine.cli, sub-command inserted before the arguments or None, summary)
VERBS: dict[str, tuple[str, str | None, str]] = {
    "generate": ("generate_data", "generate", "generate a simulated grasp dataset (HDF5 shards), resumable"),
    "validate": ("generate_data", "validate", "check a dataset's checksums, shapes and values"),
    "train": ("train", None, "train TacRefineNet on a dataset"),
    "evaluate": ("evaluate", None, "roll policies out in closed loop; report, plots, LeRobot/Rerun recordings"),
    "benchmark": ("benchmark", None, "grip-precision, speed, scale and real-data benchmarks"),
    "adapt": ("adapt", None, "adapt the shipped policy to one part (evaluate, generate, fine-tune)"),
    "dataset": ("dataset", None, "export / import datasets in LeRobot format"),
    "main": ("main_job", None, "the main job end to end: data -> training -> benchmark"),
    "export": ("export", None, "export a checkpoint to ONNX or TorchScript for deployment"),
    "check": ("check", None, "no-oracle check of policies on seen parts, the hexagon or the test-only unseen split"),
    "calibrate": ("calibrate", None, "set a checkpoint's unfamiliar-part threshold on its own training parts"),
    "ensemble": ("ensemble", None, "combine checkpoints into one ensemble (mean increment, spread as doubt)"),
    "probe": ("probe", None, "probe a part: which DoF touch sees and whether the policy reads them"),
}

PROG = "tacrefine"


def usage() -> str:
    width = max(len(v) for v in VERBS)
    lines = [f"usage: {PROG} <verb> [arguments]   ({PROG} <verb> --help for a verb's arguments)", "",
             "Tactile-only grasp refinement in simulation. Verbs:"]
    lines += [f"  {verb:<{width}}  {summary}" for verb, (_, _, summary) in VERBS.items()]
    lines += ["", f"`python -m {PROG}` is the same command; scripts/*.py call the same verbs."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tacrefine <verb> ...``; returns the verb's exit code (2 for an unknown verb)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    if args[0] == "--version":
        from tacrefine import __version__

        print(f"{PROG} {__version__}")
        return 0
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        print(f"{PROG}: unknown verb {verb!r}; allowed: {', '.join(VERBS)}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, sub, _ = VERBS[verb]
    module = importlib.import_module(f"tacrefine.cli.{module_name}")
    if sub is not None:  # generate / validate are sub-commands of one parser: its prog is the command
        return int(module.main([sub, *rest], prog=PROG) or 0)
    return int(module.main(rest, prog=f"{PROG} {verb}") or 0)


if __name__ == "__main__":
    raise SystemExit(main())
