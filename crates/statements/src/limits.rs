//! Bounds that keep a hostile file from exhausting memory: no legitimate statement comes near them.

/// The longest line a line-based format may have (an MT940 `:86:` line is 65 characters; a CSV
/// row with long wordings a few kilobytes).
pub const MAX_LINE: usize = 64 * 1024;
/// The longest text of one XML element or attribute (a camt remittance line is 140 characters).
pub const MAX_TEXT: usize = 64 * 1024;
/// The deepest XML nesting (camt.053 goes about 12 levels deep).
pub const MAX_DEPTH: usize = 64;
/// The warnings of one file kept in full ([`Warnings`](crate::Warnings) counts the rest).
pub const MAX_WARNINGS: usize = 100;
