//! Sources that read a bank's website rather than call an API, and their toolkit:
//! - [`values`] reads the amounts and dates pages print, [`forms`] fills in and submits their
//!   forms as a browser would (both pure, tested on inline text and HTML);
//! - [`browser`] is the HTTP session: cookies kept between requests and between runs;
//! - [`sandbox_web`] reads the sandbox web bank (`simulators::web_bank`): the module a contributor
//!   copies to add a bank (driver `web`).

pub mod browser;
pub mod forms;
pub mod sandbox_web;
pub mod values;
