//! Function declaration: argument specs, metadata, bind request and response.

use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, SchemaRef};

use super::arguments::Arguments;
pub use super::constraints::Constraints;
use super::settings::Settings;
use crate::error::{Error, Result};

/// The type of a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgType {
    /// A table (subquery or table reference) whose rows are streamed in.
    Table,
    /// A constant value of this Arrow type.
    Value(DataType),
}

/// The declaration of one parameter.
#[derive(Debug, Clone)]
pub struct ArgSpec {
    /// Parameter name; positional arguments are reported under this name too.
    pub name: String,
    /// Table or constant value type.
    pub data_type: ArgType,
    /// Value used when the caller omits the argument (a one-element array).
    pub default: Option<ArrayRef>,
    /// Human-readable description.
    pub doc: String,
    /// True for a `name := value` argument, false for a positional one.
    pub named: bool,
    /// True when this positional parameter absorbs all remaining arguments.
    pub varargs: bool,
    /// Restrictions on the value.
    pub constraints: Constraints,
}

impl ArgSpec {
    fn new(name: impl Into<String>, data_type: ArgType, named: bool) -> Self {
        ArgSpec {
            name: name.into(),
            data_type,
            default: None,
            doc: String::new(),
            named,
            varargs: false,
            constraints: Constraints::default(),
        }
    }

    /// A positional table parameter.
    pub fn table(name: impl Into<String>) -> Self {
        Self::new(name, ArgType::Table, false)
    }

    /// A positional constant parameter of type `data_type`.
    pub fn positional(name: impl Into<String>, data_type: DataType) -> Self {
        Self::new(name, ArgType::Value(data_type), false)
    }

    /// A named (`name := value`) constant parameter of type `data_type`.
    pub fn named(name: impl Into<String>, data_type: DataType) -> Self {
        Self::new(name, ArgType::Value(data_type), true)
    }

    /// Set the default value (a one-element array; see [`validate`](Self::validate)).
    pub fn with_default(mut self, value: ArrayRef) -> Self {
        self.default = Some(value);
        self
    }

    /// Set the description.
    pub fn with_doc(mut self, doc: impl Into<String>) -> Self {
        self.doc = doc.into();
        self
    }

    /// Set the value constraints.
    pub fn with_constraints(mut self, constraints: Constraints) -> Self {
        self.constraints = constraints;
        self
    }

    /// Make this parameter absorb all remaining positional arguments.
    pub fn varargs(mut self) -> Self {
        self.varargs = true;
        self
    }

    /// Check the declaration: a default must be a one-element array of the
    /// declared type (or NULL) that satisfies the constraints, and table
    /// parameters take neither defaults nor constraints.
    pub fn validate(&self) -> Result<()> {
        let invalid = |why: String| {
            Err(Error::InvalidArgument(format!(
                "parameter '{}': {why}",
                self.name
            )))
        };
        match (&self.data_type, &self.default) {
            (ArgType::Table, Some(_)) => {
                return invalid("a table parameter cannot have a default".into())
            }
            (ArgType::Table, None) if !self.constraints.is_empty() => {
                return invalid("a table parameter cannot have constraints".into())
            }
            (ArgType::Value(dt), Some(d)) => {
                if d.len() != 1 {
                    return invalid(format!(
                        "default must hold exactly 1 value, got {}",
                        d.len()
                    ));
                }
                if d.data_type() != dt && *d.data_type() != DataType::Null {
                    return invalid(format!("default has type {}, expected {dt}", d.data_type()));
                }
                self.constraints.check(&self.name, d)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Descriptive and planning metadata of a function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionMetadata {
    /// One-paragraph description.
    pub description: String,
    /// Example SQL invocations.
    pub examples: Vec<String>,
    /// The result depends on the order rows arrive in the sink.
    pub sink_order_dependent: bool,
    /// The order of produced rows is meaningful and must be preserved.
    pub source_order_dependent: bool,
    /// `process` needs DuckDB's per-chunk batch index.
    pub requires_input_batch_index: bool,
    /// The function can produce only the projected output columns.
    pub projection_pushdown: bool,
}

impl FunctionMetadata {
    /// Metadata with this description and every flag off.
    pub fn new(description: impl Into<String>) -> Self {
        FunctionMetadata {
            description: description.into(),
            ..Self::default()
        }
    }

    /// Add an example invocation.
    pub fn with_example(mut self, example: impl Into<String>) -> Self {
        self.examples.push(example.into());
        self
    }

    /// Set [`sink_order_dependent`](Self::sink_order_dependent).
    pub fn with_sink_order_dependent(mut self, on: bool) -> Self {
        self.sink_order_dependent = on;
        self
    }

    /// Set [`source_order_dependent`](Self::source_order_dependent).
    pub fn with_source_order_dependent(mut self, on: bool) -> Self {
        self.source_order_dependent = on;
        self
    }

    /// Set [`requires_input_batch_index`](Self::requires_input_batch_index).
    pub fn with_requires_input_batch_index(mut self, on: bool) -> Self {
        self.requires_input_batch_index = on;
        self
    }

    /// Set [`projection_pushdown`](Self::projection_pushdown).
    pub fn with_projection_pushdown(mut self, on: bool) -> Self {
        self.projection_pushdown = on;
        self
    }
}

/// What `on_bind` receives.
#[derive(Debug, Clone)]
pub struct BindParams {
    /// Schema of the table argument's rows.
    pub input_schema: SchemaRef,
    /// The call's constant arguments.
    pub arguments: Arguments,
    /// The extension's settings for this call.
    pub settings: Settings,
}

/// What `on_bind` returns.
#[derive(Debug, Clone)]
pub struct BindResponse {
    /// Schema of the rows the function will produce.
    pub output_schema: SchemaRef,
    /// Bytes handed back to later phases as `attach_opaque_data`.
    pub opaque_data: Option<Vec<u8>>,
}

impl BindResponse {
    /// A response producing `output_schema`, without opaque data.
    pub fn new(output_schema: SchemaRef) -> Self {
        BindResponse {
            output_schema,
            opaque_data: None,
        }
    }

    /// Attach opaque data.
    pub fn with_opaque_data(mut self, data: Vec<u8>) -> Self {
        self.opaque_data = Some(data);
        self
    }
}

/// Checks `arguments` against `specs`: constraints hold, and positional
/// arguments are not NULL.
pub fn check_arguments(specs: &[ArgSpec], arguments: &Arguments) -> Result<()> {
    for spec in specs {
        if matches!(spec.data_type, ArgType::Table) {
            continue;
        }
        match arguments.get(&spec.name) {
            Some(value) if !value.is_null(0) => spec.constraints.check(&spec.name, value)?,
            _ if !spec.named && !spec.varargs => {
                return Err(Error::InvalidArgument(format!(
                    "argument {} must not be NULL",
                    spec.name
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, NullArray, StringArray};
    use std::sync::Arc;

    #[test]
    fn builders() {
        let a = ArgSpec::named("n", DataType::Int64)
            .with_default(Arc::new(Int64Array::from(vec![5])))
            .with_doc("count")
            .with_constraints(Constraints::default().with_ge(1.0));
        assert!(a.named && !a.varargs && a.doc == "count");
        a.validate().unwrap();
        let v = ArgSpec::positional("cols", DataType::Utf8).varargs();
        assert!(!v.named && v.varargs);
        assert_eq!(ArgSpec::table("t").data_type, ArgType::Table);
        let m = FunctionMetadata::new("d")
            .with_example("SELECT 1")
            .with_sink_order_dependent(true)
            .with_projection_pushdown(true);
        assert!(m.sink_order_dependent && m.projection_pushdown && !m.source_order_dependent);
        assert_eq!(m.examples, ["SELECT 1"]);
        let schema = Arc::new(arrow_schema::Schema::empty());
        let r = BindResponse::new(schema).with_opaque_data(vec![1]);
        assert_eq!(r.opaque_data.as_deref(), Some(&[1u8][..]));
    }

    #[test]
    fn validate_rejects_bad_defaults() {
        let wrong_type = ArgSpec::named("n", DataType::Int64)
            .with_default(Arc::new(StringArray::from(vec!["x"])));
        assert!(wrong_type
            .validate()
            .unwrap_err()
            .to_string()
            .contains("'n'"));
        let two = ArgSpec::named("n", DataType::Int64)
            .with_default(Arc::new(Int64Array::from(vec![1, 2])));
        assert!(two.validate().is_err());
        let out_of_range = ArgSpec::named("n", DataType::Int64)
            .with_default(Arc::new(Int64Array::from(vec![0])))
            .with_constraints(Constraints::default().with_ge(1.0));
        assert!(out_of_range.validate().is_err());
        let null = ArgSpec::named("n", DataType::Int64).with_default(Arc::new(NullArray::new(1)));
        null.validate().unwrap();
        let table = ArgSpec::table("t").with_default(Arc::new(NullArray::new(1)));
        assert!(table.validate().is_err());
    }
}
