//! Account archiving (being written).
