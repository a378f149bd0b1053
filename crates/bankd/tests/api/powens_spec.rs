//! Powens' published OpenAPI files (`tests/powens/specs`, see its SOURCE.md) read as JSON Schemas,
//! so that tests can check bankd's answers against the schemas Powens' SDKs are generated from.
//!
//! The files mix OpenAPI 3.0 and 3.1 (`nullable: true` beside `type: [x, null]`, and `type: null`
//! written as a YAML null) and `$ref` each other by file name; [`PowensSpec::load`] turns them into
//! self-contained JSON Schema 2020-12 documents. No crate converts OpenAPI schemas to JSON Schema
//! across files, hence the hand-written walk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value, json};

/// The files' directory.
const SPECS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/powens/specs");

/// Errors in Powens' files, corrected before use: (file, JSON pointer, correct schema, why).
const ERRATA: &[(&str, &str, &str, &str)] = &[(
    "bank-account-types.yml",
    "/components/schemas/BankAccountType/properties/id",
    r##"{"$ref": "core.yml#/components/schemas/Id"}"##,
    "the file points an account type's integer id at CalendarBound, a date string",
)];

/// One operation of Powens' files, and the schema of each of its success answers.
pub struct Operation {
    pub method: String,
    /// With `{}` for every path parameter and for `me`: see [`normalize`].
    pub path: String,
    /// Status → JSON Schema of the body (`None`: no body).
    pub responses: BTreeMap<u16, Option<Value>>,
}

pub struct PowensSpec {
    pub operations: Vec<Operation>,
}

/// A path with every parameter (`{id_user}`, `{accountId}`) and `me` replaced by `{}`, and
/// bankd's `/2.0` prefix dropped, so that bankd's and Powens' spellings of a route compare equal.
pub fn normalize(path: &str) -> String {
    let path = path.strip_prefix("/2.0").unwrap_or(path);
    path.split('/')
        .map(|segment| if segment == "me" || segment.starts_with('{') { "{}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

impl PowensSpec {
    pub fn load() -> PowensSpec {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(SPECS).expect("tests/powens/specs") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml") {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                let text = std::fs::read_to_string(&path).unwrap();
                let document: Value =
                    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                files.insert(name, document);
            }
        }
        for (file, pointer, schema, _why) in ERRATA {
            let target = files.get_mut(*file).and_then(|d| d.pointer_mut(pointer)).expect("erratum's target");
            *target = serde_json::from_str(schema).unwrap();
        }
        let mut operations = Vec::new();
        for (file, document) in &files {
            let Some(paths) = document.get("paths").and_then(Value::as_object) else { continue };
            for (path, item) in paths {
                for (method, operation) in item.as_object().unwrap() {
                    if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                        continue;
                    }
                    let responses = success_schemas(&files, file, operation);
                    operations.push(Operation { method: method.to_uppercase(), path: normalize(path), responses });
                }
            }
        }
        PowensSpec { operations }
    }

    /// The operations of this method and (normalized) path: Powens' file may spell one route twice
    /// (`/connectors/{connectorId}` and `/connectors/{connectorUuid}`).
    pub fn operations(&self, method: &str, path: &str) -> Vec<&Operation> {
        self.operations.iter().filter(|o| o.method == method && o.path == path).collect()
    }
}

/// The success answers (2xx, 3xx) of an operation, each with its body's schema as a standalone document.
fn success_schemas(files: &BTreeMap<String, Value>, file: &str, operation: &Value) -> BTreeMap<u16, Option<Value>> {
    let mut schemas = BTreeMap::new();
    for (status, response) in operation["responses"].as_object().unwrap() {
        let Ok(status) = status.parse::<u16>() else { continue };
        if !(200..400).contains(&status) {
            continue;
        }
        let body = response.pointer("/content/application~1json/schema").map(|schema| standalone(files, file, schema));
        schemas.insert(status, body);
    }
    schemas
}

/// `schema` (found in `file`) as one JSON Schema 2020-12 document: the component schemas it reaches
/// are converted into its `$defs`.
fn standalone(files: &BTreeMap<String, Value>, file: &str, schema: &Value) -> Value {
    let mut converter = Converter { files, wanted: Vec::new(), defs: Map::new(), seen: BTreeSet::new() };
    let mut root = converter.schema(file, schema);
    while let Some((file, name)) = converter.wanted.pop() {
        let source = files
            .get(&file)
            .and_then(|d| d.pointer(&format!("/components/schemas/{name}")))
            .unwrap_or_else(|| panic!("{file} has no schema {name}"));
        let converted = converter.schema(&file, source);
        converter.defs.insert(def_name(&file, &name), converted);
    }
    let root_object = root.as_object_mut().unwrap();
    root_object.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    root_object.insert("$defs".into(), Value::Object(converter.defs));
    root
}

fn def_name(file: &str, name: &str) -> String {
    format!("{}.{name}", file.trim_end_matches(".yml"))
}

struct Converter<'a> {
    files: &'a BTreeMap<String, Value>,
    /// Component schemas referenced and not converted yet: (file, name).
    wanted: Vec<(String, String)>,
    defs: Map<String, Value>,
    seen: BTreeSet<String>,
}

impl Converter<'_> {
    /// One OpenAPI schema object of `file` as JSON Schema.
    fn schema(&mut self, file: &str, schema: &Value) -> Value {
        let Some(object) = schema.as_object() else { return schema.clone() };
        let mut out = Map::new();
        for (key, value) in object {
            let converted = match key.as_str() {
                "$ref" => Value::String(self.reference(file, value.as_str().expect("$ref is a string"))),
                "properties" | "patternProperties" => Value::Object(
                    value.as_object().unwrap().iter().map(|(k, v)| (k.clone(), self.schema(file, v))).collect(),
                ),
                "items" | "additionalProperties" | "not" => self.schema(file, value),
                "allOf" | "anyOf" | "oneOf" => {
                    Value::Array(value.as_array().unwrap().iter().map(|v| self.schema(file, v)).collect())
                }
                // `type: null` is YAML for no type at all, but these files mean the JSON null type.
                "type" => match value {
                    Value::Null => json!("null"),
                    Value::Array(types) => Value::Array(
                        types.iter().map(|t| if t.is_null() { json!("null") } else { t.clone() }).collect(),
                    ),
                    other => other.clone(),
                },
                "nullable" => continue,
                _ => value.clone(),
            };
            // `oneOf: [X, {type: null}]` is these files' "X or null"; once X itself admits null
            // (see below), `oneOf` would refuse the null that both branches accept.
            let or_null = key == "oneOf" && converted.as_array().unwrap().contains(&json!({"type": "null"}));
            out.insert(if or_null { "anyOf".into() } else { key.clone() }, converted);
        }
        if object.get("nullable") == Some(&Value::Bool(true)) {
            return nullable(out);
        }
        // A 3.1-style `type: [string, null]` beside an `enum` that omits null (ConnectionState, whose
        // own description says null means a healthy connection) means what `nullable` would.
        let null_type = out.get("type").and_then(Value::as_array).is_some_and(|t| t.contains(&json!("null")));
        if let Some(values) = out.get_mut("enum").and_then(Value::as_array_mut)
            && null_type
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
        Value::Object(out)
    }

    /// `core.yml#/components/schemas/Id` (or `#/…` within `file`) → `#/$defs/core.Id`.
    fn reference(&mut self, file: &str, reference: &str) -> String {
        let (target_file, pointer) = reference.split_once('#').expect("$ref with a fragment");
        let target_file = if target_file.is_empty() { file } else { target_file.trim_start_matches("./") };
        let name = pointer.strip_prefix("/components/schemas/").expect("$ref to a component schema");
        assert!(self.files.contains_key(target_file), "{file} refers to {target_file}, which tests/powens/specs lacks");
        let def = def_name(target_file, name);
        if self.seen.insert(def.clone()) {
            self.wanted.push((target_file.to_owned(), name.to_owned()));
        }
        format!("#/$defs/{def}")
    }
}

/// OpenAPI 3.0's `nullable: true` in JSON Schema terms.
fn nullable(mut schema: Map<String, Value>) -> Value {
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(Value::Null);
    }
    match schema.get_mut("type") {
        Some(Value::String(t)) => {
            let t = t.clone();
            schema.insert("type".into(), json!([t, "null"]));
            Value::Object(schema)
        }
        Some(Value::Array(types)) => {
            types.push(json!("null"));
            Value::Object(schema)
        }
        _ => json!({"anyOf": [Value::Object(schema), {"type": "null"}]}),
    }
}

/// Compiles a schema of [`Operation::responses`].
pub fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("Powens schema does not compile: {e}"))
}

/// Every way `body` breaks `schema`, one line each (empty: valid).
pub fn violations(schema: &Value, body: &Value) -> Vec<String> {
    validator(schema).iter_errors(body).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

#[test]
fn the_files_load_and_every_schema_compiles() {
    let spec = PowensSpec::load();
    assert!(spec.operations.len() >= 20, "{} operations", spec.operations.len());
    for operation in &spec.operations {
        for schema in operation.responses.values().flatten() {
            validator(schema);
        }
    }
    assert!(Path::new(SPECS).join("SOURCE.md").exists());
}

#[test]
fn nullable_becomes_a_null_type() {
    let open = |yaml: &str| -> Value { serde_yaml_ng::from_str(yaml).unwrap() };
    let files = BTreeMap::from([("a.yml".to_owned(), open("components: {schemas: {N: {type: integer}}}"))]);
    let schema = open(
        "{type: object, properties: {s: {type: string, nullable: true}, e: {type: string, enum: [x], nullable: true},
          r: {$ref: '#/components/schemas/N', nullable: true}, t: {oneOf: [{type: string}, {type: null}]},
          u: {type: [string, null], enum: [x]}}}",
    );
    let document = standalone(&files, "a.yml", &schema);
    for valid in [
        json!({"s": null, "e": null, "r": null, "t": null, "u": null}),
        json!({"s": "a", "e": "x", "r": 1, "t": "a", "u": "x"}),
    ] {
        assert_eq!(violations(&document, &valid), Vec::<String>::new(), "{valid}");
    }
    for invalid in [json!({"e": "y"}), json!({"r": "1"}), json!({"t": 1}), json!({"s": 1}), json!({"u": "y"})] {
        assert!(!violations(&document, &invalid).is_empty(), "{invalid}");
    }
}
