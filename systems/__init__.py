"""One file per paper: each declares its SystemSpec (the rows of its result table) next to its model."""
