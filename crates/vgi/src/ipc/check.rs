//! Structural checks on an Arrow IPC stream before arrow-ipc decodes it.
//!
//! arrow-ipc 60 validates array contents but panics, instead of returning an
//! error, when a buffer lies outside its message body, when a fixed-width
//! buffer's length is not a multiple of its element width, or when a union's
//! type id or offset buffer is too short or misaligned. These checks reject
//! such streams first, deriving each buffer's layout from the schema in the
//! order the decoder consumes them. A well-formed stream always passes; where
//! the layout cannot be derived, only the bounds are checked.

use arrow_data::{layout, BufferSpec};
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::{root_as_message, MetadataVersion, RecordBatch as FbRecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, UnionMode};

use crate::error::{Error, Result};

/// Walk the stream's messages the way `StreamReader` does, requiring every
/// message body to be present and uncompressed and every record batch buffer
/// to lie inside its body with a length that fits its element width.
pub(crate) fn check_framing(bytes: &[u8]) -> Result<()> {
    let mut rest = bytes;
    let mut schema: Option<Schema> = None;
    loop {
        let Some(mut word) = take_u32(&mut rest) else {
            return Ok(());
        };
        if word == u32::MAX {
            word = take_u32(&mut rest).ok_or_else(|| bad("truncated message length"))?;
        }
        let meta_len = i32::from_le_bytes(word.to_le_bytes());
        if meta_len == 0 {
            return Ok(());
        }
        let meta_len = usize::try_from(meta_len).map_err(|_| bad("negative metadata length"))?;
        if meta_len > rest.len() {
            return Err(bad("truncated message metadata"));
        }
        let (meta, tail) = rest.split_at(meta_len);
        let message = root_as_message(meta).map_err(|e| bad(format!("message metadata: {e}")))?;
        let body_len = usize::try_from(message.bodyLength())
            .ok()
            .filter(|len| *len <= tail.len())
            .ok_or_else(|| bad("message body length out of range"))?;
        if let Some(fb) = message.header_as_schema() {
            let decoded = try_fb_to_schema(fb)?;
            for field in decoded.fields() {
                check_type(field.data_type())?;
            }
            schema = Some(decoded);
        } else if let Some(batch) = message.header_as_record_batch() {
            check_batch(batch, body_len, schema.as_ref(), message.version())?;
        } else if let Some(dict) = message.header_as_dictionary_batch() {
            if let Some(batch) = dict.data() {
                let values = schema
                    .as_ref()
                    .and_then(|s| dictionary_schema(s, dict.id()));
                check_batch(batch, body_len, values.as_ref(), message.version())?;
            }
        }
        rest = &tail[body_len..];
    }
}

/// Reject type parameters arrow panics on (negative fixed sizes).
fn check_type(data_type: &DataType) -> Result<()> {
    match data_type {
        DataType::FixedSizeBinary(size) | DataType::FixedSizeList(_, size) if *size < 0 => {
            return Err(bad(format!("negative fixed size {size} in {data_type}")));
        }
        DataType::List(child)
        | DataType::LargeList(child)
        | DataType::ListView(child)
        | DataType::LargeListView(child)
        | DataType::FixedSizeList(child, _)
        | DataType::Map(child, _) => check_type(child.data_type())?,
        DataType::Struct(children) => {
            for child in children {
                check_type(child.data_type())?;
            }
        }
        DataType::Union(children, _) => {
            for (_, child) in children.iter() {
                check_type(child.data_type())?;
            }
        }
        DataType::Dictionary(key, values) => {
            check_type(key)?;
            check_type(values)?;
        }
        DataType::RunEndEncoded(run_ends, values) => {
            check_type(run_ends.data_type())?;
            check_type(values.data_type())?;
        }
        _ => {}
    }
    Ok(())
}

/// The one-column schema the decoder uses for dictionary `id`'s values.
fn dictionary_schema(schema: &Schema, id: i64) -> Option<Schema> {
    #[expect(deprecated, reason = "the decoder resolves dictionaries by this id")]
    let fields = schema.fields_with_dict_id(id);
    match fields.first()?.data_type() {
        DataType::Dictionary(_, values) => Some(Schema::new(vec![Field::new(
            "",
            values.as_ref().clone(),
            true,
        )])),
        _ => None,
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Decode {
        what: "Arrow IPC stream",
        reason: reason.into(),
    }
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let (head, tail) = rest.split_first_chunk::<4>()?;
    *rest = tail;
    Some(u32::from_le_bytes(*head))
}

/// What a well-formed buffer looks like: its length is a multiple of
/// `width` and at least `min_len` bytes, and its offset a multiple of `align`
/// (only demanded where the decoder uses the buffer without realigning it).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rule {
    width: u64,
    min_len: u64,
    align: u64,
}

impl Rule {
    const BYTES: Rule = Rule {
        width: 1,
        min_len: 0,
        align: 1,
    };
}

/// Check one batch's buffers against the body length and, when the schema
/// determines the layout, against their rules (the decoder consumes buffers
/// in order, so rules apply to the leading buffers).
fn check_batch(
    batch: FbRecordBatch<'_>,
    body_len: usize,
    schema: Option<&Schema>,
    version: MetadataVersion,
) -> Result<()> {
    if batch.compression().is_some() {
        return Err(bad("compressed bodies are not supported"));
    }
    let buffers: Vec<_> = batch.buffers().iter().flatten().collect();
    let nodes: Vec<u64> = batch
        .nodes()
        .iter()
        .flatten()
        .map(|n| u64::try_from(n.length()).unwrap_or(u64::MAX))
        .collect();
    let variadic: Vec<i64> = batch.variadicBufferCounts().iter().flatten().collect();
    let rules = schema.map_or_else(Vec::new, |s| {
        buffer_rules(s.fields(), &nodes, &variadic, version)
    });
    for (i, buffer) in buffers.iter().enumerate() {
        let (Ok(offset), Ok(len)) = (
            u64::try_from(buffer.offset()),
            u64::try_from(buffer.length()),
        ) else {
            return Err(bad(format!("buffer {i} has a negative offset or length")));
        };
        if offset
            .checked_add(len)
            .is_none_or(|end| end > body_len as u64)
        {
            return Err(bad(format!("buffer {i} exceeds the {body_len}-byte body")));
        }
        if let Some(rule) = rules.get(i) {
            if len % rule.width != 0 || len < rule.min_len || offset % rule.align != 0 {
                return Err(bad(format!(
                    "buffer {i} ({len} bytes at offset {offset}): expected a multiple of {} \
                     bytes, at least {}, aligned to {}",
                    rule.width, rule.min_len, rule.align
                )));
            }
        }
    }
    Ok(())
}

/// The rules of the buffers the IPC format writes for `fields` (one field
/// node each, depth first), up to where the layout stops being derivable
/// (nodes or variadic counts run out, or an unknown type).
fn buffer_rules(
    fields: &Fields,
    nodes: &[u64],
    variadic: &[i64],
    version: MetadataVersion,
) -> Vec<Rule> {
    let mut walk = Walk {
        nodes: nodes.iter(),
        variadic: variadic.iter(),
        union_validity: version < MetadataVersion::V5,
        out: Vec::new(),
    };
    for field in fields {
        if walk.field(field.data_type()).is_none() {
            break;
        }
    }
    walk.out
}

/// Depth-first walk over fields mirroring arrow-ipc's `create_array`. `field`
/// returns `None` (having pushed only correct rules) where the layout stops
/// being known.
struct Walk<'a> {
    nodes: std::slice::Iter<'a, u64>,
    variadic: std::slice::Iter<'a, i64>,
    /// Before V5 (which includes any unknown, negative version) unions carry a validity buffer.
    union_validity: bool,
    out: Vec<Rule>,
}

impl Walk<'_> {
    fn push_width(&mut self, width: usize) {
        self.out.push(Rule {
            width: width.max(1) as u64,
            ..Rule::BYTES
        });
    }

    fn field(&mut self, data_type: &DataType) -> Option<()> {
        let len = *self.nodes.next()?;
        match data_type {
            DataType::Null => {}
            DataType::Union(children, mode) => {
                if self.union_validity {
                    self.push_width(1);
                }
                self.out.push(Rule {
                    min_len: len,
                    ..Rule::BYTES
                });
                if *mode == UnionMode::Dense {
                    self.out.push(Rule {
                        width: 4,
                        min_len: len.checked_mul(4)?,
                        align: 4,
                    });
                }
                for (_, child) in children.iter() {
                    self.field(child.data_type())?;
                }
            }
            DataType::RunEndEncoded(run_ends, values) => {
                self.field(run_ends.data_type())?;
                self.field(values.data_type())?;
            }
            DataType::Utf8View | DataType::BinaryView => {
                let data_buffers = usize::try_from(*self.variadic.next()?).ok()?;
                self.push_width(1);
                self.push_width(16);
                for _ in 0..data_buffers.min(1 << 20) {
                    self.push_width(1);
                }
            }
            DataType::ListView(child) | DataType::LargeListView(child) => {
                let width = if matches!(data_type, DataType::ListView(_)) {
                    4
                } else {
                    8
                };
                self.push_width(1);
                self.push_width(width);
                self.push_width(width);
                self.field(child.data_type())?;
            }
            other => {
                let own = match other {
                    DataType::Dictionary(key, _) if key.is_integer() => key.as_ref(),
                    DataType::Dictionary(..) => return None,
                    other => other,
                };
                self.push_width(1);
                if let DataType::FixedSizeBinary(size) = own {
                    // `layout` panics on a negative size.
                    self.push_width(usize::try_from(*size).ok()?);
                } else {
                    for spec in layout(own).buffers {
                        match spec {
                            BufferSpec::FixedWidth { byte_width, .. } => {
                                self.push_width(byte_width)
                            }
                            _ => self.push_width(1),
                        }
                    }
                }
                match other {
                    DataType::List(child)
                    | DataType::LargeList(child)
                    | DataType::FixedSizeList(child, _)
                    | DataType::Map(child, _) => self.field(child.data_type())?,
                    DataType::Struct(children) => {
                        for child in children {
                            self.field(child.data_type())?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(())
    }
}

/// `(rules derived, buffers present)` for each record and dictionary batch of a stream.
#[cfg(test)]
pub(crate) fn rule_coverage(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut rest = bytes;
    let mut schema = None;
    let mut out = Vec::new();
    while let Some(mut word) = take_u32(&mut rest) {
        if word == u32::MAX {
            word = take_u32(&mut rest).unwrap();
        }
        if word == 0 {
            break;
        }
        let (meta, tail) = rest.split_at(word as usize);
        let message = root_as_message(meta).unwrap();
        let batch = if let Some(fb) = message.header_as_schema() {
            schema = Some(try_fb_to_schema(fb).unwrap());
            None
        } else if let Some(batch) = message.header_as_record_batch() {
            Some((batch, schema.clone().unwrap()))
        } else {
            let dict = message.header_as_dictionary_batch().unwrap();
            let values = dictionary_schema(schema.as_ref().unwrap(), dict.id()).unwrap();
            Some((dict.data().unwrap(), values))
        };
        if let Some((batch, schema)) = batch {
            let nodes: Vec<u64> = batch
                .nodes()
                .unwrap()
                .iter()
                .map(|n| n.length() as u64)
                .collect();
            let variadic: Vec<i64> = batch.variadicBufferCounts().iter().flatten().collect();
            let rules = buffer_rules(schema.fields(), &nodes, &variadic, message.version());
            out.push((rules.len(), batch.buffers().unwrap().len()));
        }
        rest = &tail[message.bodyLength() as usize..];
    }
    out
}
