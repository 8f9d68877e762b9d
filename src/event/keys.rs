//! Which top-level fields of an event something reads: a trigger, a mapping, a destination's
//! whole table. Delivery parses only those (see [`crate::delivery`]'s consumer), since a
//! browser event's `context` alone is often most of its bytes and few subscriptions read it.

/// A set of top-level event keys, or "all of them" (a mapping that reads the whole event, or
/// a path only known when the mapping runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventKeys {
    all: bool,
    /// Sorted, without repeats.
    keys: Vec<String>,
}

impl EventKeys {
    /// No keys.
    pub fn none() -> EventKeys {
        EventKeys::default()
    }

    /// Adds one key.
    pub fn add(&mut self, key: &str) {
        if self.all {
            return;
        }
        if let Err(at) = self.keys.binary_search_by(|k| k.as_str().cmp(key)) {
            self.keys.insert(at, key.to_owned());
        }
    }

    /// Makes this "every key".
    pub fn add_all(&mut self) {
        self.all = true;
        self.keys.clear();
    }

    /// Whether every key is read.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether `key` is read.
    pub fn contains(&self, key: &str) -> bool {
        self.all || self.keys.binary_search_by(|k| k.as_str().cmp(key)).is_ok()
    }

    /// The keys (empty when [`EventKeys::is_all`]).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_a_set_and_all_absorbs_them() {
        let mut k = EventKeys::none();
        k.add("properties");
        k.add("event");
        k.add("properties");
        assert_eq!(k.keys(), ["event", "properties"]);
        assert!(k.contains("event") && !k.contains("context"));
        k.add("context");
        assert_eq!(k.keys(), ["context", "event", "properties"]);
        k.add_all();
        assert!(k.is_all() && k.contains("anything") && k.keys().is_empty());
        k.add("more");
        assert!(k.keys().is_empty());
    }
}
