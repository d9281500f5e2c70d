"""The papers' result tables (data) and the report beside them: runs summarised per row, bootstrap, figures, HTML."""
