"""Framework-free use cases of the portal, shared by routes, the CLI and (issue 7) the
supervisor pages."""
