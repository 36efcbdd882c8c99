"""Sphinx configuration for the django-otp-sms-gateway documentation (Read the Docs layout).

The pages are Markdown, read by MyST. ``make docs`` builds them with warnings as errors.
"""

import importlib.metadata

project = "django-otp-sms-gateway"
author = "the django-otp-sms-gateway authors"
copyright = "2026, the django-otp-sms-gateway authors"
try:
    release = importlib.metadata.version("django-otp-sms-gateway")
except importlib.metadata.PackageNotFoundError:  # building from a checkout that is not installed
    release = "unreleased"
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# Headings up to ### get anchors, so pages can link to sections (`sending.md#circuit-breaker`).
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

html_theme = "furo"
html_title = f"django-otp-sms-gateway {release}"
html_static_path = ["_static"]
