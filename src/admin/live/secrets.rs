//! A provider's secrets through the admin API: `api_key`, `api_keys` and `headers` are never
//! shown (each string reads `"********"`, or the `${VAR}` reference as written), and a literal
//! one is sealed with `[store] secret_key` before it is stored, as tenants' provider keys are.
//! The stored definition keeps the field with its literal strings masked; the worker opens the
//! sealed fields back into it (`snapshot::stored::opened`).

use super::AdminError;
use crate::base::cipher::Cipher;
use serde_json::{Map, Value};

/// What a secret string reads as.
pub const MASK: &str = "********";

/// The fields of a provider that may hold a secret.
const FIELDS: [&str; 3] = ["api_key", "api_keys", "headers"];

/// `${VAR}` (or `${VAR:-default}`), the whole string: a reference, not a secret.
fn is_reference(s: &str) -> bool {
    s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1
}

/// `v` with every string that is not a reference masked.
fn mask(v: &Value) -> Value {
    match v {
        Value::String(s) if is_reference(s) => v.clone(),
        Value::String(_) => Value::String(MASK.into()),
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), mask(v))).collect())
        }
        other => other.clone(),
    }
}

/// Whether `v` has a string that is a literal secret (not a reference, not the mask).
fn has_literal(v: &Value) -> bool {
    match v {
        Value::String(s) => !is_reference(s) && s != MASK,
        Value::Array(items) => items.iter().any(has_literal),
        Value::Object(map) => map.values().any(has_literal),
        _ => false,
    }
}

/// Whether `v` has a masked string: the caller sent back what it was shown.
fn has_mask(v: &Value) -> bool {
    match v {
        Value::String(s) => s == MASK,
        Value::Array(items) => items.iter().any(has_mask),
        Value::Object(map) => map.values().any(has_mask),
        _ => false,
    }
}

/// A definition as shown: a provider's secret fields masked.
pub fn shown(section: &str, definition: &Value) -> Value {
    let mut out = definition.clone();
    if section != "providers" {
        return out;
    }
    if let Some(obj) = out.as_object_mut() {
        for f in FIELDS {
            if let Some(v) = obj.get_mut(f) {
                *v = mask(v);
            }
        }
    }
    out
}

/// Seals a provider's literal secret fields: `definition` keeps them masked, and the sealed
/// object holds their values. A field sent back masked keeps the value `previous` (the stored
/// entry's sealed fields) has. `None` when nothing is secret.
pub fn seal(
    name: &str,
    definition: &mut Value,
    previous: Option<&[u8]>,
    cipher: Option<&Cipher>,
) -> Result<Option<Vec<u8>>, AdminError> {
    let Some(obj) = definition.as_object_mut() else {
        return Ok(None);
    };
    let old: Map<String, Value> = match (previous, cipher) {
        (Some(sealed), Some(c)) => c
            .open(sealed)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        _ => Map::new(),
    };
    let mut secret = Map::new();
    for f in FIELDS {
        let Some(v) = obj.get_mut(f) else { continue };
        if has_mask(v) {
            let Some(kept) = old.get(f) else {
                return Err(AdminError::BadRequest(format!(
                    "providers[{name}].{f}: {MASK:?} keeps the stored secret, and there is \
                     none; give the value or a ${{VAR}} reference"
                )));
            };
            secret.insert(f.into(), kept.clone());
            *v = mask(kept);
        } else if has_literal(v) {
            secret.insert(f.into(), v.clone());
            *v = mask(v);
        }
    }
    if secret.is_empty() {
        return Ok(None);
    }
    let Some(cipher) = cipher else {
        return Err(AdminError::BadRequest(format!(
            "providers[{name}]: a literal secret is stored encrypted: set [store] secret_key, \
             or give a ${{VAR}} reference"
        )));
    };
    let text = Value::Object(secret).to_string();
    cipher
        .seal(&text)
        .map(Some)
        .map_err(|e| AdminError::Internal(format!("cannot seal the secret: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_show_and_literals_do_not() {
        let def = json!({"kind": "openai", "api_key": "sk-live", "api_keys": ["${K1}", "k2"],
                         "headers": {"x-org": "org-1"}});
        let v = shown("providers", &def);
        assert_eq!(v["api_key"], MASK);
        assert_eq!(v["api_keys"], json!(["${K1}", MASK]));
        assert_eq!(v["headers"]["x-org"], MASK);
        assert_eq!(v["kind"], "openai");
        assert_eq!(shown("routes", &def)["api_key"], "sk-live");
    }

    #[test]
    fn a_literal_is_sealed_and_kept_when_sent_back_masked() {
        let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let c = Cipher::from_text(key).unwrap();
        let mut def = json!({"kind": "openai", "api_key": "sk-live"});
        let sealed = seal("p", &mut def, None, Some(&c)).unwrap().unwrap();
        assert_eq!(def["api_key"], MASK);
        assert!(c.open(&sealed).unwrap().contains("sk-live"));
        let mut again = json!({"kind": "openai", "api_key": MASK});
        let kept = seal("p", &mut again, Some(&sealed), Some(&c))
            .unwrap()
            .unwrap();
        assert!(c.open(&kept).unwrap().contains("sk-live"));
        let mut none = json!({"kind": "openai", "api_key": MASK});
        assert!(seal("p", &mut none, None, Some(&c)).is_err());
        let mut no_key = json!({"kind": "openai", "api_key": "sk-live"});
        assert!(seal("p", &mut no_key, None, None).is_err());
        let mut reference = json!({"kind": "openai", "api_key": "${OPENAI_API_KEY}"});
        assert_eq!(seal("p", &mut reference, None, None).unwrap(), None);
    }
}
