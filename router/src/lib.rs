//! Delivery tier of switchboard.
