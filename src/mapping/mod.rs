//! TEMPORARY STUB: replaced by the real mapping engine.
use serde_json::Value;
#[derive(Debug, Clone, PartialEq)]
pub enum Mapping { Literal(Value) }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError { pub location: String, pub message: String }
impl std::fmt::Display for MappingError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{}", self.message) } }
impl std::error::Error for MappingError {}
impl Mapping {
    pub fn parse(v: &Value) -> Result<Mapping, MappingError> { Ok(Mapping::Literal(v.clone())) }
    pub fn resolve(&self, _event: &Value) -> Option<Value> { match self { Mapping::Literal(v) => Some(v.clone()) } }
    pub fn path(p: &str) -> Mapping { Mapping::Literal(Value::String(p.into())) }
    pub fn exists_or(a: &str, _b: &str) -> Mapping { Mapping::Literal(Value::String(a.into())) }
    pub fn template(t: &str) -> Mapping { Mapping::Literal(Value::String(t.into())) }
    pub fn literal(v: Value) -> Mapping { Mapping::Literal(v) }
    pub fn is_literal(&self) -> bool { true }
}
