//! Replays fuzz/corpus and fuzz/regressions through the same checks as the fuzz targets.
