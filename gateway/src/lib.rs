//! Edge tier of switchboard.
