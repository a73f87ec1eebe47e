#!/usr/bin/env python3
"""Dropship Gateway. `python run.py --help` lists the commands (serve, check, demo, plugins)."""

from gateway.app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
