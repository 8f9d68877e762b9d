//! TEMPORARY STUB: replaced by the real trigger language.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger { src: String }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FqlError { pub position: usize, pub message: String, pub source: String }
impl std::fmt::Display for FqlError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{}", self.message) } }
impl std::error::Error for FqlError {}
impl Trigger {
    pub fn parse(src: &str) -> Result<Trigger, FqlError> { Ok(Trigger { src: src.into() }) }
    pub fn matches(&self, _event: &serde_json::Value) -> bool { true }
    pub fn source(&self) -> &str { &self.src }
}
impl std::fmt::Display for Trigger { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.src) } }
