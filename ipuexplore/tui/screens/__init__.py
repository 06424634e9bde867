"""One screen per module: layer view, network view, charts, help, export dialog."""
