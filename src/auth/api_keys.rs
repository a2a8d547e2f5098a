//! Agent API keys: `cs_` + 256 random bits. See [`super::tokens`].

use super::tokens::{self, NewToken};

const PREFIX: &str = "cs_";

pub fn generate() -> NewToken {
    tokens::generate(PREFIX)
}

pub fn hash_presented(key: &str) -> Option<String> {
    tokens::hash_presented(PREFIX, key)
}
