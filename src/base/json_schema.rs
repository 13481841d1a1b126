//! A small JSON Schema validator: the subset prompt APIs use for their input and output.
//!
//! Supported keywords: `type` (one name or a list), `properties`, `required`,
//! `additionalProperties` (a boolean), `enum`, `const`, `minLength`/`maxLength` (in
//! characters), `minimum`/`maximum`, `minItems`/`maxItems` and `items` (one schema), plus the
//! annotations `title`, `description`, `default`, `examples`, `$schema`, `$id`, `$comment`.
//! Any other keyword is refused when the schema is compiled: a rule the gateway would silently
//! skip is worse than an error at load time. A violation names the value at fault as a dotted
//! path from the root's name (`input.items[2].text: longer than 20 characters`).

use serde_json::{Map, Value};
use std::fmt;

/// The JSON types a `type` keyword can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Object,
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Null,
}

impl Type {
    const ALL: [(&'static str, Type); 7] = [
        ("object", Type::Object),
        ("string", Type::String),
        ("number", Type::Number),
        ("integer", Type::Integer),
        ("boolean", Type::Boolean),
        ("array", Type::Array),
        ("null", Type::Null),
    ];

    fn parse(name: &str) -> Option<Type> {
        Type::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    fn name(self) -> &'static str {
        Type::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("?", |(n, _)| n)
    }

    fn admits(self, v: &Value) -> bool {
        match (self, v) {
            (Type::Object, Value::Object(_)) => true,
            (Type::String, Value::String(_)) => true,
            (Type::Number, Value::Number(_)) => true,
            (Type::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            (Type::Boolean, Value::Bool(_)) => true,
            (Type::Array, Value::Array(_)) => true,
            (Type::Null, Value::Null) => true,
            _ => false,
        }
    }
}

const KEYWORDS: [&str; 13] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "items",
];
const ANNOTATIONS: [&str; 7] = [
    "title",
    "description",
    "default",
    "examples",
    "$schema",
    "$id",
    "$comment",
];

/// A compiled schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// `None`: any type.
    types: Option<Vec<Type>>,
    properties: Vec<(String, Schema)>,
    required: Vec<String>,
    /// `additionalProperties`; true unless the schema says false.
    additional: bool,
    one_of_values: Option<Vec<Value>>,
    constant: Option<Value>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    items: Option<Box<Schema>>,
}

/// A schema the subset cannot take, at `path` (a JSON pointer into the schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.as_str() {
            "" => f.write_str(&self.message),
            p => write!(f, "at {p}: {}", self.message),
        }
    }
}

/// A value a schema refuses: `path` names it (`input.text`), `message` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn err(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError {
        path: path.to_string(),
        message: message.into(),
    }
}

fn count(v: &Value, path: &str, key: &str) -> Result<u64, SchemaError> {
    v.as_u64()
        .ok_or_else(|| err(path, format!("{key} must be a non-negative integer")))
}

fn number(v: &Value, path: &str, key: &str) -> Result<f64, SchemaError> {
    v.as_f64()
        .ok_or_else(|| err(path, format!("{key} must be a number")))
}

impl Schema {
    /// Compiles `value`, refusing any keyword outside the subset.
    pub fn compile(value: &Value) -> Result<Schema, SchemaError> {
        compile_at(value, "")
    }

    /// Whether the schema only admits objects.
    pub fn is_object(&self) -> bool {
        self.types.as_deref() == Some(&[Type::Object])
    }

    /// The names of the declared properties.
    pub fn property_names(&self) -> impl Iterator<Item = &str> {
        self.properties.iter().map(|(n, _)| n.as_str())
    }

    /// Checks `value`; the first violation found names the value by its path from `root`.
    pub fn validate(&self, value: &Value, root: &str) -> Result<(), Violation> {
        let mut path = root.to_string();
        self.check(value, &mut path)
    }

    fn check(&self, v: &Value, path: &mut String) -> Result<(), Violation> {
        let fail = |path: &str, message: String| {
            Err(Violation {
                path: path.to_string(),
                message,
            })
        };
        if let Some(types) = &self.types {
            if !types.iter().any(|t| t.admits(v)) {
                let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
                return fail(
                    path,
                    format!("expected {}, got {}", names.join(" or "), kind_of(v)),
                );
            }
        }
        if let Some(c) = &self.constant {
            if c != v {
                return fail(path, format!("must be {c}"));
            }
        }
        if let Some(values) = &self.one_of_values {
            if !values.contains(v) {
                let list: Vec<String> = values.iter().map(Value::to_string).collect();
                return fail(path, format!("must be one of {}", list.join(", ")));
            }
        }
        match v {
            Value::String(s) => self.check_string(s, path),
            Value::Number(n) => self.check_number(n.as_f64().unwrap_or(0.0), path),
            Value::Array(items) => self.check_array(items, path),
            Value::Object(map) => self.check_object(map, path),
            _ => Ok(()),
        }
    }

    fn check_string(&self, s: &str, path: &str) -> Result<(), Violation> {
        let n = s.chars().count() as u64;
        let message = match (self.min_length, self.max_length) {
            (Some(min), _) if n < min => format!("shorter than {min} characters"),
            (_, Some(max)) if n > max => format!("longer than {max} characters"),
            _ => return Ok(()),
        };
        Err(Violation {
            path: path.to_string(),
            message,
        })
    }

    fn check_number(&self, n: f64, path: &str) -> Result<(), Violation> {
        let message = match (self.minimum, self.maximum) {
            (Some(min), _) if n < min => format!("less than the minimum {min}"),
            (_, Some(max)) if n > max => format!("more than the maximum {max}"),
            _ => return Ok(()),
        };
        Err(Violation {
            path: path.to_string(),
            message,
        })
    }

    fn check_array(&self, items: &[Value], path: &mut String) -> Result<(), Violation> {
        let n = items.len() as u64;
        let message = match (self.min_items, self.max_items) {
            (Some(min), _) if n < min => Some(format!("fewer than {min} items")),
            (_, Some(max)) if n > max => Some(format!("more than {max} items")),
            _ => None,
        };
        if let Some(message) = message {
            return Err(Violation {
                path: path.clone(),
                message,
            });
        }
        let Some(schema) = &self.items else {
            return Ok(());
        };
        for (i, item) in items.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            schema.check(item, path)?;
            path.truncate(len);
        }
        Ok(())
    }

    fn check_object(&self, map: &Map<String, Value>, path: &mut String) -> Result<(), Violation> {
        for name in &self.required {
            if !map.contains_key(name) {
                return Err(Violation {
                    path: format!("{path}.{name}"),
                    message: "required".into(),
                });
            }
        }
        for (name, value) in map {
            let len = path.len();
            path.push('.');
            path.push_str(name);
            match self.properties.iter().find(|(n, _)| n == name) {
                Some((_, schema)) => schema.check(value, path)?,
                None if !self.additional => {
                    return Err(Violation {
                        path: path.clone(),
                        message: "not an allowed property".into(),
                    })
                }
                None => {}
            }
            path.truncate(len);
        }
        Ok(())
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn compile_at(value: &Value, path: &str) -> Result<Schema, SchemaError> {
    let Value::Object(map) = value else {
        return Err(err(path, "a schema must be a JSON object"));
    };
    let mut s = Schema {
        additional: true,
        ..Schema::default()
    };
    for (key, v) in map {
        let at = format!("{path}/{key}");
        match key.as_str() {
            "type" => s.types = Some(types(v, &at)?),
            "properties" => {
                let Value::Object(props) = v else {
                    return Err(err(&at, "properties must be an object"));
                };
                for (name, sub) in props {
                    s.properties
                        .push((name.clone(), compile_at(sub, &format!("{at}/{name}"))?));
                }
            }
            "required" => {
                let names = v.as_array().and_then(|a| {
                    a.iter()
                        .map(|n| n.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                });
                s.required = names.ok_or_else(|| err(&at, "required must be a list of names"))?;
            }
            "additionalProperties" => {
                s.additional = v.as_bool().ok_or_else(|| {
                    err(
                        &at,
                        "only true or false is supported for additionalProperties",
                    )
                })?
            }
            "enum" => {
                let values = v.as_array().filter(|a| !a.is_empty());
                let values = values.ok_or_else(|| err(&at, "enum must be a non-empty list"))?;
                s.one_of_values = Some(values.clone());
            }
            "const" => s.constant = Some(v.clone()),
            "minLength" => s.min_length = Some(count(v, &at, key)?),
            "maxLength" => s.max_length = Some(count(v, &at, key)?),
            "minItems" => s.min_items = Some(count(v, &at, key)?),
            "maxItems" => s.max_items = Some(count(v, &at, key)?),
            "minimum" => s.minimum = Some(number(v, &at, key)?),
            "maximum" => s.maximum = Some(number(v, &at, key)?),
            "items" => s.items = Some(Box::new(compile_at(v, &at)?)),
            k if ANNOTATIONS.contains(&k) => {}
            k => {
                return Err(err(
                    &at,
                    format!(
                        "the keyword {k:?} is not supported (supported: {})",
                        KEYWORDS.join(", ")
                    ),
                ))
            }
        }
    }
    for name in &s.required {
        if !s.properties.is_empty() && !s.properties.iter().any(|(n, _)| n == name) {
            return Err(err(
                &format!("{path}/required"),
                format!("{name:?} is required but not among the properties"),
            ));
        }
    }
    Ok(s)
}

fn types(v: &Value, at: &str) -> Result<Vec<Type>, SchemaError> {
    let one = |n: &Value| {
        n.as_str().and_then(Type::parse).ok_or_else(|| {
            err(
                at,
                format!(
                    "{n} is not a type; use object, string, number, integer, boolean, array or null"
                ),
            )
        })
    };
    match v {
        Value::Array(list) if !list.is_empty() => list.iter().map(one).collect(),
        Value::Array(_) => Err(err(at, "type must name at least one type")),
        n => Ok(vec![one(n)?]),
    }
}

#[cfg(test)]
mod tests;
