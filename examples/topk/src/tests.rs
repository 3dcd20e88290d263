use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    StringViewArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use vgi::store::new_execution_id;
use vgi::{BufferingStore, Settings};

use super::*;

fn args(k: i64, by: Option<&str>, group_by: Option<&str>) -> Arguments {
    let mut pairs: Vec<(&str, ArrayRef)> = vec![("k", Arc::new(Int64Array::from(vec![k])))];
    if let Some(by) = by {
        pairs.push(("by", Arc::new(StringArray::from(vec![by]))));
    }
    if let Some(group_by) = group_by {
        pairs.push(("group_by", Arc::new(StringArray::from(vec![group_by]))));
    }
    Arguments::try_from_pairs(pairs).unwrap()
}

/// Columns g (Int64), v (Float64), s (Utf8View).
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, true),
        Field::new("v", DataType::Float64, true),
        Field::new("s", DataType::Utf8View, true),
    ]))
}

type Row = (Option<i64>, Option<f64>, Option<String>);

fn batch(rows: &[(Option<i64>, Option<f64>, Option<&str>)]) -> RecordBatch {
    let g = Int64Array::from_iter(rows.iter().map(|r| r.0));
    let v = Float64Array::from_iter(rows.iter().map(|r| r.1));
    let s = StringViewArray::from_iter(rows.iter().map(|r| r.2));
    RecordBatch::try_new(schema(), vec![Arc::new(g), Arc::new(v), Arc::new(s)]).unwrap()
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in batches {
        let g = b.column(0).as_primitive::<Int64Type>();
        let v = b.column(1).as_primitive::<Float64Type>();
        let s = b.column(2).as_string_view();
        for i in 0..b.num_rows() {
            rows.push((
                g.is_valid(i).then(|| g.value(i)),
                v.is_valid(i).then(|| v.value(i)),
                s.is_valid(i).then(|| s.value(i).to_string()),
            ));
        }
    }
    rows
}

fn bind_error(schema: SchemaRef, arguments: Arguments) -> String {
    let params = BindParams {
        input_schema: schema,
        arguments,
        settings: Settings::new(),
    };
    TopK.on_bind(&params).unwrap_err().to_string()
}

/// Runs the whole lifecycle on `batches` as DuckDB would (one thread).
fn run(batches: &[RecordBatch], arguments: Arguments) -> Vec<RecordBatch> {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BufferingStore::open(dir.path().join("store")).unwrap());
    let input = schema();
    let bind = BindParams {
        input_schema: input.clone(),
        arguments: arguments.clone(),
        settings: Settings::new(),
    };
    let output = TopK.on_bind(&bind).unwrap().output_schema;
    let exec = new_execution_id().unwrap();
    let mut params = BufferingParams::new(exec.clone(), store.clone(), input, output);
    params.arguments = arguments;
    let states: Vec<Vec<u8>> = batches
        .iter()
        .map(|b| TopK.process(&params, b).unwrap())
        .collect();
    let mut produced = Vec::new();
    for id in TopK.combine(&params, &states).unwrap() {
        let mut producer = TopK.finalize_producer(&params, id).unwrap();
        while let Some(b) = producer.next_batch().unwrap() {
            produced.push(b);
        }
    }
    store.clear(&exec).unwrap();
    produced
}

/// The expected answer, by sorting every row: group ascending (NULL last),
/// v descending, then g and s ascending (NULL last); NULL v dropped; k per group.
fn reference(batches: &[RecordBatch], k: usize, grouped: bool) -> Vec<Row> {
    let mut rows: Vec<Row> = rows_of(batches)
        .into_iter()
        .filter(|r| r.1.is_some())
        .collect();
    let group = |r: &Row| if grouped { r.0 } else { None };
    let nulls_last = |a: &Option<i64>, b: &Option<i64>| match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (a, b) => b.is_some().cmp(&a.is_some()),
    };
    let strings_nulls_last = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
        (a, b) => b.is_some().cmp(&a.is_some()),
    };
    // Ties are broken by the other columns in input order: g (when it is
    // not the group), then s.
    rows.sort_by(|a, b| {
        nulls_last(&group(a), &group(b))
            .then(b.1.unwrap().total_cmp(&a.1.unwrap()))
            .then(nulls_last(&a.0, &b.0))
            .then(strings_nulls_last(&a.2, &b.2))
    });
    let mut out: Vec<Row> = Vec::new();
    let mut taken = 0;
    for (i, row) in rows.iter().enumerate() {
        if i == 0 || group(&rows[i - 1]) != group(row) {
            taken = 0;
        }
        if taken < k {
            out.push(row.clone());
            taken += 1;
        }
    }
    out
}

#[test]
fn bind_validates_arguments() {
    let msg = bind_error(schema(), args(2, None, None));
    assert!(msg.contains("argument 'by' is required"), "{msg}");
    let msg = bind_error(schema(), args(2, Some("x"), None));
    assert!(
        msg.contains("argument 'by'")
            && msg.contains("no column named 'x'")
            && msg.contains("g, v, s"),
        "{msg}"
    );
    let msg = bind_error(schema(), args(2, Some("s"), None));
    assert!(
        msg.contains("argument 'by': column 's' is VARCHAR, not a number"),
        "{msg}"
    );
    let msg = bind_error(schema(), args(2, Some("v"), Some("nope")));
    assert!(
        msg.contains("argument 'group_by'") && msg.contains("'nope'"),
        "{msg}"
    );
    let msg = bind_error(schema(), args(-1, Some("v"), None));
    assert!(msg.contains("argument 'k' must be >= 1"), "{msg}");
}

#[test]
fn k_constraint_is_declared_for_the_sdk() {
    let specs = TopK.argument_specs();
    let k = specs.iter().find(|s| s.name == "k").unwrap();
    let zero: ArrayRef = Arc::new(Int64Array::from(vec![0]));
    let msg = k.constraints.check("k", &zero).unwrap_err().to_string();
    assert!(msg.contains("argument 'k' must be >= 1, got 0"), "{msg}");
    for spec in &specs {
        spec.validate().unwrap();
    }
}

#[test]
fn columns_resolve_case_insensitively_and_ties_skip_by_and_group() {
    let plan = Plan::new(&schema(), &args(3, Some("V"), Some("G"))).unwrap();
    assert_eq!(
        plan,
        Plan {
            k: 3,
            by: 1,
            group_by: Some(0),
            ties: vec![2]
        }
    );
    let both = Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("A", DataType::Int64, true),
    ]);
    assert_eq!(Plan::new(&both, &args(1, Some("A"), None)).unwrap().by, 1);
    let msg = Plan::new(&both, &args(1, Some("b"), None))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no column named 'b'"), "{msg}");
}

#[test]
fn every_numeric_type_ranks_and_others_do_not() {
    for (data_type, ok) in [
        (DataType::Int8, true),
        (DataType::UInt64, true),
        (DataType::Float32, true),
        (DataType::Decimal128(38, 0), true),
        (DataType::Boolean, false),
        (DataType::Date32, false),
    ] {
        let s = Schema::new(vec![Field::new("x", data_type.clone(), true)]);
        assert_eq!(
            Plan::new(&s, &args(1, Some("x"), None)).is_ok(),
            ok,
            "{data_type}"
        );
    }
}

#[test]
fn select_keeps_the_top_k_per_group_in_order() {
    let b = batch(&[
        (Some(1), Some(5.0), Some("a")),
        (Some(2), Some(9.0), Some("b")),
        (Some(1), Some(7.0), Some("c")),
        (Some(1), None, Some("d")),
        (None, Some(1.0), Some("e")),
        (Some(1), Some(6.0), Some("f")),
        (Some(2), Some(3.0), Some("g")),
    ]);
    let plan = Plan::new(&schema(), &args(2, Some("v"), Some("g"))).unwrap();
    let top = plan.select(&b).unwrap();
    assert_eq!(
        rows_of(&[top]),
        vec![
            (Some(1), Some(7.0), Some("c".into())),
            (Some(1), Some(6.0), Some("f".into())),
            (Some(2), Some(9.0), Some("b".into())),
            (Some(2), Some(3.0), Some("g".into())),
            (None, Some(1.0), Some("e".into())),
        ]
    );
}

#[test]
fn ties_are_broken_by_the_other_columns() {
    let b = batch(&[
        (Some(1), Some(5.0), Some("z")),
        (Some(1), Some(5.0), None),
        (Some(1), Some(5.0), Some("m")),
        (Some(1), Some(5.0), Some("a")),
    ]);
    let plan = Plan::new(&schema(), &args(3, Some("v"), None)).unwrap();
    let got: Vec<Option<String>> = rows_of(&[plan.select(&b).unwrap()])
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(got, [Some("a".into()), Some("m".into()), Some("z".into())]);
}

#[test]
fn nan_ranks_first_and_null_by_is_skipped() {
    let b = batch(&[
        (None, Some(f64::INFINITY), Some("inf")),
        (None, Some(f64::NAN), Some("nan")),
        (None, None, Some("null")),
        (None, Some(-1.0), Some("neg")),
    ]);
    let plan = Plan::new(&schema(), &args(10, Some("v"), None)).unwrap();
    let got: Vec<Option<String>> = rows_of(&[plan.select(&b).unwrap()])
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(
        got,
        [Some("nan".into()), Some("inf".into()), Some("neg".into())]
    );
}

#[test]
fn lifecycle_matches_a_full_sort() {
    // A small deterministic generator: 40 batches of up to 97 rows, 7 groups
    // and NULLs, many ties (v has 11 values) broken by s.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let batches: Vec<RecordBatch> = (0..40)
        .map(|_| {
            let len = next(98) as usize;
            let rows: Vec<(Option<i64>, Option<f64>, Option<String>)> = (0..len)
                .map(|_| {
                    let g = next(8);
                    let v = next(12);
                    let s = next(50);
                    (
                        (g < 7).then_some(g as i64),
                        (v < 11).then_some(v as f64 - 5.0),
                        (s < 45).then(|| format!("s{s}")),
                    )
                })
                .collect();
            let borrowed: Vec<_> = rows.iter().map(|r| (r.0, r.1, r.2.as_deref())).collect();
            batch(&borrowed)
        })
        .collect();
    for k in [1, 3, 1000] {
        let grouped = rows_of(&run(&batches, args(k, Some("v"), Some("g"))));
        assert_eq!(grouped, reference(&batches, k as usize, true), "k={k}");
        let whole = rows_of(&run(&batches, args(k, Some("v"), None)));
        assert_eq!(whole, reference(&batches, k as usize, false), "k={k}");
    }
}

#[test]
fn empty_input_or_only_null_by_produces_nothing() {
    assert!(run(&[], args(3, Some("v"), None)).is_empty());
    let nulls = batch(&[(Some(1), None, Some("a")), (None, None, None)]);
    assert!(run(&[nulls], args(3, Some("v"), Some("g"))).is_empty());
}

#[test]
fn combine_merges_more_rows_than_one_merge_step() {
    // 3 batches of 30,000 distinct groups: the partial tops exceed MERGE_ROWS.
    let batches: Vec<RecordBatch> = (0..3)
        .map(|b| {
            let rows: Vec<(Option<i64>, Option<f64>, Option<&str>)> = (0..30_000)
                .map(|i| (Some(i), Some(f64::from(b * 10 + (i % 5) as i32)), Some("x")))
                .collect();
            batch(&rows)
        })
        .collect();
    let out = rows_of(&run(&batches, args(2, Some("v"), Some("g"))));
    assert_eq!(out.len(), 60_000);
    assert_eq!(out, reference(&batches, 2, true));
}

#[test]
fn output_schema_is_the_input_schema() {
    let input = Arc::new(Schema::new(vec![
        Field::new("flag", DataType::Boolean, true),
        Field::new("n", DataType::Int32, true),
    ]));
    let params = BindParams {
        input_schema: input.clone(),
        arguments: args(1, Some("n"), Some("flag")),
        settings: Settings::new(),
    };
    assert_eq!(TopK.on_bind(&params).unwrap().output_schema, input);
    let b = RecordBatch::try_new(
        input,
        vec![
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(true)])),
            Arc::new(arrow_array::Int32Array::from(vec![1, 2, 3])),
        ],
    )
    .unwrap();
    let plan = Plan::new(&b.schema(), &params.arguments).unwrap();
    let top = plan.select(&b).unwrap();
    assert_eq!(top.num_rows(), 2);
    assert_eq!(
        top.column(1)
            .as_primitive::<arrow_array::types::Int32Type>()
            .values(),
        &[3, 2]
    );
}

/// A column as DuckDB's lossless Arrow export sends HUGEINT or UHUGEINT.
fn wide_field(name: &str, type_name: &str) -> Field {
    let metadata = [
        ("ARROW:extension:name", "arrow.opaque".to_string()),
        (
            "ARROW:extension:metadata",
            format!("{{\"type_name\":\"{type_name}\",\"vendor_name\":\"DuckDB\"}}"),
        ),
    ];
    Field::new(name, DataType::FixedSizeBinary(16), true).with_metadata(
        metadata
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<HashMap<_, _>>(),
    )
}

fn wide_column(values: &[Option<[u8; 16]>]) -> ArrayRef {
    Arc::new(
        arrow_array::FixedSizeBinaryArray::try_from_sparse_iter_with_size(
            values.iter().copied(),
            16,
        )
        .unwrap(),
    )
}

#[test]
fn hugeint_and_uhugeint_rank_as_128_bit_integers() {
    let schema = Arc::new(Schema::new(vec![
        wide_field("h", "hugeint"),
        wide_field("u", "uhugeint"),
        Field::new("i", DataType::Int64, true),
    ]));
    let h: Vec<Option<[u8; 16]>> = [-5i128, i128::MAX, 3, i128::MIN, 0]
        .iter()
        .map(|v| Some(v.to_le_bytes()))
        .chain([None])
        .collect();
    let u: Vec<Option<[u8; 16]>> = [1u128, u128::MAX, 1 << 127, 0, 7, 9]
        .iter()
        .map(|v| Some(v.to_le_bytes()))
        .collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            wide_column(&h),
            wide_column(&u),
            Arc::new(Int64Array::from(vec![0, 1, 2, 3, 4, 5])),
        ],
    )
    .unwrap();
    let order = |by: &str| -> Vec<i64> {
        let plan = Plan::new(&schema, &args(10, Some(by), None)).unwrap();
        let top = plan.select(&batch).unwrap();
        assert_eq!(top.schema(), schema);
        top.column(2).as_primitive::<Int64Type>().values().to_vec()
    };
    // h: MAX, 3, 0, -5, MIN (NULL skipped)
    assert_eq!(order("h"), [1, 2, 4, 0, 3]);
    // u: MAX, 2^127, 9, 7, 1, 0
    assert_eq!(order("u"), [1, 2, 5, 4, 0, 3]);
    let uuid = Field::new("id", DataType::FixedSizeBinary(16), true).with_metadata(HashMap::from(
        [("ARROW:extension:name".to_string(), "arrow.uuid".to_string())],
    ));
    let bool8 = Field::new("flag", DataType::Int8, true).with_metadata(HashMap::from([(
        "ARROW:extension:name".to_string(),
        "arrow.bool8".to_string(),
    )]));
    let schema = Arc::new(Schema::new(vec![uuid, bool8]));
    let msg = bind_error(schema.clone(), args(1, Some("id"), None));
    assert!(msg.contains("column 'id' is UUID, not a number"), "{msg}");
    let msg = bind_error(schema.clone(), args(1, Some("flag"), None));
    assert!(
        msg.contains("column 'flag' is BOOLEAN, not a number"),
        "{msg}"
    );
    let s = Schema::new(vec![Field::new("b", DataType::Binary, true)
        .with_metadata(wide_field("b", "bignum").metadata().clone())]);
    let msg = Plan::new(&s, &args(1, Some("b"), None))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("column 'b' is BIGNUM, not a number"), "{msg}");
}
