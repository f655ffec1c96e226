"""``python -m tacrefine <verb>``: the same as the ``tacrefine`` console command."""

from tacrefine.cli.command import main

if __name__ == "__main__":  # required: worker processes are spawned and re-import the main module
    raise SystemExit(main())
