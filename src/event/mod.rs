//! Segment events.
