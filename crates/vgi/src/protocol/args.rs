//! The constant arguments of a call as a v3 client sends them in
//! `BindRequest.arguments`: a one-row batch with one column `args`, a
//! struct whose children are `positional_<i>` and `named_<name>`.
//!
//! Positions count the non-TABLE positional parameters as declared; a
//! varargs parameter takes every position after them, one element each.
//! On the function's side the arguments are in DuckDB's signature order
//! (positional, varargs as one list, named), cast to the declared types,
//! with every named parameter present (its default, or NULL).

use std::sync::Arc;

use arrow_array::{
    new_null_array, Array, ArrayRef, ListArray, RecordBatch, RecordBatchOptions, StructArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};

use crate::sdk::{ArgSpec, ArgType, Arguments};
use crate::{Error, Result};

/// The name of the struct column that holds the arguments.
pub const ARGS_COLUMN: &str = "args";

const POSITIONAL: &str = "positional_";
const NAMED: &str = "named_";

fn value_type(spec: &ArgSpec) -> Option<&DataType> {
    match &spec.data_type {
        ArgType::Table => None,
        ArgType::Value(t) => Some(t),
    }
}

/// The fixed positional, varargs and named parameters of `specs`.
fn split(specs: &[ArgSpec]) -> (Vec<&ArgSpec>, Option<&ArgSpec>, Vec<&ArgSpec>) {
    let values = || specs.iter().filter(|s| value_type(s).is_some());
    let fixed = values().filter(|s| !s.named && !s.varargs).collect();
    let varargs = values().find(|s| !s.named && s.varargs);
    let named = values().filter(|s| s.named).collect();
    (fixed, varargs, named)
}

/// `arguments` (in signature order, as the bridge holds them) as the
/// one-row `{args: struct<...>}` batch a v3 client sends.
pub fn to_wire(specs: &[ArgSpec], arguments: &Arguments) -> Result<RecordBatch> {
    let (fixed, varargs, named) = split(specs);
    let mut children: Vec<(Arc<Field>, ArrayRef)> = Vec::new();
    let mut push = |name: String, value: ArrayRef| {
        let field = Arc::new(Field::new(name, value.data_type().clone(), true));
        children.push((field, value));
    };
    for (i, spec) in fixed.iter().enumerate() {
        if let Some(value) = arguments.get(&spec.name) {
            push(format!("{POSITIONAL}{i}"), value.clone());
        }
    }
    if let Some(spec) = varargs {
        if let Some(list) = arguments.get(&spec.name) {
            let list = list.as_any().downcast_ref::<ListArray>().ok_or_else(|| {
                Error::InvalidArgument(format!("varargs {} is not a list", spec.name))
            })?;
            if !list.is_null(0) {
                let elements = list.value(0);
                for k in 0..elements.len() {
                    push(
                        format!("{POSITIONAL}{}", fixed.len() + k),
                        elements.slice(k, 1),
                    );
                }
            }
        }
    }
    for spec in named {
        if let Some(value) = arguments.get(&spec.name) {
            push(format!("{NAMED}{}", spec.name), value.clone());
        }
    }
    let args: ArrayRef = if children.is_empty() {
        Arc::new(StructArray::new_empty_fields(1, None))
    } else {
        Arc::new(StructArray::from(children))
    };
    let schema = Schema::new(vec![Field::new(
        ARGS_COLUMN,
        args.data_type().clone(),
        false,
    )]);
    Ok(RecordBatch::try_new_with_options(
        Arc::new(schema),
        vec![args],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?)
}

/// The arguments of a v3 `arguments` batch, checked against `specs`.
pub fn from_wire(specs: &[ArgSpec], batch: &RecordBatch) -> Result<Arguments> {
    let bad = |why: String| Error::InvalidArgument(format!("arguments: {why}"));
    let children: Vec<(String, ArrayRef)> = match batch.num_columns() {
        0 => Vec::new(),
        _ => {
            let args = batch
                .column_by_name(ARGS_COLUMN)
                .and_then(|c| c.as_any().downcast_ref::<StructArray>())
                .filter(|_| batch.num_columns() == 1)
                .ok_or_else(|| bad(format!("expected one struct column {ARGS_COLUMN}")))?;
            if args.len() != 1 {
                return Err(bad(format!("expected one row, got {}", args.len())));
            }
            args.fields()
                .iter()
                .zip(args.columns())
                .map(|(f, c)| (f.name().clone(), c.clone()))
                .collect()
        }
    };
    let (fixed, varargs, named) = split(specs);
    let mut positional: Vec<Option<ArrayRef>> = vec![None; fixed.len()];
    let mut rest: Vec<(usize, ArrayRef)> = Vec::new();
    let mut given_named: Vec<(&ArgSpec, ArrayRef)> = Vec::new();
    for (name, value) in children {
        if let Some(i) = name.strip_prefix(POSITIONAL) {
            let i: usize = i
                .parse()
                .map_err(|_| bad(format!("bad argument name {name}")))?;
            if i < fixed.len() {
                positional[i] = Some(value);
            } else if varargs.is_some() {
                rest.push((i, value));
            } else {
                return Err(bad(format!(
                    "no positional argument {i} (the function takes {})",
                    fixed.len()
                )));
            }
        } else if let Some(n) = name.strip_prefix(NAMED) {
            let spec = named
                .iter()
                .find(|s| s.name == n)
                .ok_or_else(|| bad(format!("unknown named argument {n}")))?;
            given_named.push((spec, value));
        } else {
            return Err(bad(format!(
                "{name} is neither {POSITIONAL}<i> nor {NAMED}<name>"
            )));
        }
    }
    let mut pairs: Vec<(String, ArrayRef)> = Vec::new();
    for (spec, value) in fixed.iter().zip(positional) {
        let data_type = value_type(spec).expect("a value parameter");
        let value = match value {
            Some(v) => cast(&spec.name, &v, data_type)?,
            None => new_null_array(data_type, 1),
        };
        pairs.push((spec.name.clone(), value));
    }
    if let Some(spec) = varargs {
        rest.sort_by_key(|(i, _)| *i);
        let data_type = value_type(spec).expect("a value parameter");
        let elements = rest
            .iter()
            .map(|(_, v)| cast(&spec.name, v, data_type))
            .collect::<Result<Vec<_>>>()?;
        pairs.push((spec.name.clone(), list_of(data_type, &elements)?));
    }
    for spec in named {
        let data_type = value_type(spec).expect("a value parameter");
        let value = match given_named.iter().find(|(s, _)| s.name == spec.name) {
            Some((_, v)) => cast(&spec.name, v, data_type)?,
            None => match &spec.default {
                Some(d) => cast(&spec.name, d, data_type)?,
                None => new_null_array(data_type, 1),
            },
        };
        pairs.push((spec.name.clone(), value));
    }
    Arguments::try_from_pairs(pairs)
}

fn cast(name: &str, value: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if value.len() != 1 {
        return Err(Error::InvalidArgument(format!(
            "argument {name} must hold exactly 1 value, got {}",
            value.len()
        )));
    }
    if value.data_type() == to {
        return Ok(value.clone());
    }
    let strict = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow_cast::cast_with_options(value, to, &strict).map_err(|e| {
        Error::InvalidArgument(format!(
            "argument {name}: cannot cast {} to {to}: {e}",
            value.data_type()
        ))
    })
}

/// A one-row list of `elements` (each one value of `item`).
fn list_of(item: &DataType, elements: &[ArrayRef]) -> Result<ArrayRef> {
    let values = if elements.is_empty() {
        arrow_array::new_empty_array(item)
    } else {
        let refs: Vec<&dyn Array> = elements.iter().map(|e| e.as_ref()).collect();
        arrow_select::concat::concat(&refs)?
    };
    let field = Arc::new(Field::new("item", item.clone(), true));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::from_lengths([elements.len()]),
        values,
        None,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{BooleanArray, Int32Array, Int64Array, StringArray};

    fn specs() -> Vec<ArgSpec> {
        vec![
            ArgSpec::positional("k", DataType::Int64),
            ArgSpec::table("data"),
            ArgSpec::named("by", DataType::Utf8),
            ArgSpec::named("flag", DataType::Boolean)
                .with_default(Arc::new(BooleanArray::from(vec![true]))),
            ArgSpec::positional("phase", DataType::Utf8),
        ]
    }

    fn wire(children: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<(Arc<Field>, ArrayRef)> = children
            .into_iter()
            .map(|(n, v)| (Arc::new(Field::new(n, v.data_type().clone(), true)), v))
            .collect();
        let args: ArrayRef = if fields.is_empty() {
            Arc::new(StructArray::new_empty_fields(1, None))
        } else {
            Arc::new(StructArray::from(fields))
        };
        RecordBatch::try_from_iter([(ARGS_COLUMN, args)]).unwrap()
    }

    #[test]
    fn positions_names_defaults_and_casts() {
        let batch = wire(vec![
            ("positional_1", Arc::new(StringArray::from(vec!["combine"]))),
            ("named_by", Arc::new(StringArray::from(vec!["x"]))),
            ("positional_0", Arc::new(Int32Array::from(vec![7]))),
        ]);
        let args = from_wire(&specs(), &batch).unwrap();
        assert_eq!(args.names(), ["k", "phase", "by", "flag"]);
        assert_eq!(args.get_i64("k").unwrap(), Some(7));
        assert_eq!(args.get("k").unwrap().data_type(), &DataType::Int64);
        assert_eq!(args.get_str("phase").unwrap().as_deref(), Some("combine"));
        assert_eq!(args.get_str("by").unwrap().as_deref(), Some("x"));
        assert_eq!(args.get_bool("flag").unwrap(), Some(true), "the default");
    }

    #[test]
    fn missing_values_are_null_and_no_arguments_is_an_empty_struct() {
        let args = from_wire(&specs(), &wire(vec![])).unwrap();
        assert!(args.is_null("k") && args.is_null("by"));
        let none = from_wire(&[ArgSpec::table("data")], &wire(vec![])).unwrap();
        assert!(none.is_empty());
        let empty = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .unwrap();
        assert!(from_wire(&[ArgSpec::table("data")], &empty)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_arguments_are_named() {
        let err = |children| {
            from_wire(&specs(), &wire(children))
                .unwrap_err()
                .to_string()
        };
        let one = || Arc::new(Int64Array::from(vec![1])) as ArrayRef;
        assert!(err(vec![("positional_2", one())]).contains("no positional argument 2"));
        assert!(err(vec![("named_nope", one())]).contains("unknown named argument nope"));
        assert!(err(vec![("k", one())]).contains("neither positional_<i> nor named_<name>"));
        assert!(err(vec![(
            "positional_0",
            Arc::new(StringArray::from(vec!["many"])) as ArrayRef
        )])
        .contains("argument k: cannot cast Utf8 to Int64"));
        let flat = RecordBatch::try_from_iter([("k", one())]).unwrap();
        assert!(from_wire(&specs(), &flat)
            .unwrap_err()
            .to_string()
            .contains("expected one struct column args"));
    }

    #[test]
    fn round_trip_with_varargs() {
        let specs = vec![
            ArgSpec::table("data"),
            ArgSpec::positional("k", DataType::Int64),
            ArgSpec::positional("cols", DataType::Utf8).varargs(),
            ArgSpec::named("by", DataType::Utf8),
        ];
        let cols = list_of(
            &DataType::Utf8,
            &[
                Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
                Arc::new(StringArray::from(vec!["b"])),
            ],
        )
        .unwrap();
        let args = Arguments::try_from_pairs([
            ("k", Arc::new(Int64Array::from(vec![3])) as ArrayRef),
            ("cols", cols),
            ("by", Arc::new(StringArray::from(vec![None::<&str>]))),
        ])
        .unwrap();
        let batch = to_wire(&specs, &args).unwrap();
        let children: Vec<String> = match batch.schema().field(0).data_type() {
            DataType::Struct(fields) => fields.iter().map(|f| f.name().clone()).collect(),
            other => panic!("{other}"),
        };
        assert_eq!(
            children,
            ["positional_0", "positional_1", "positional_2", "named_by"]
        );
        assert!(!batch.schema().field(0).is_nullable());
        assert_eq!(from_wire(&specs, &batch).unwrap(), args);
        let list = from_wire(&specs, &batch).unwrap();
        let list = list.get("cols").unwrap().as_list::<i32>().value(0);
        assert_eq!(list.as_string::<i32>().value(1), "b");
        let no_rest = to_wire(
            &specs,
            &Arguments::try_from_pairs([("k", Arc::new(Int64Array::from(vec![3])) as ArrayRef)])
                .unwrap(),
        )
        .unwrap();
        let back = from_wire(&specs, &no_rest).unwrap();
        assert_eq!(back.get("cols").unwrap().as_list::<i32>().value(0).len(), 0);
        assert_eq!(
            back.get("k").unwrap().as_primitive::<Int64Type>().value(0),
            3
        );
    }
}
