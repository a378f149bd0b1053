//! A toolkit to read web-banking sites, for the sources that scrape a bank's website rather than
//! call an API: [`values`] reads the amounts and dates pages print, [`forms`] fills in and submits
//! their forms as a browser would. More to come: a session with a cookie store, and pages.
//!
//! These modules are pure (no network), so each rule is tested on inline text and HTML.

pub mod forms;
pub mod values;
