"""The papers' reference result tables (data) and the code that renders them."""
