"""A plugin whose import fails (a missing dependency, say)."""

raise ImportError("this plugin needs a package that is not installed")
