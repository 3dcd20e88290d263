//! Buffered pipes for the stdin/stdout transport. vgi-rpc writes a response
//! as many small pieces (stream header, each message's prefix, metadata and
//! body) and reads a request the same way; unbuffered, each piece is a
//! system call and a wakeup of the client. Here a response leaves in one
//! write, and a request arrives in as few reads as the pipe allows.
//!
//! Output is flushed whenever the worker is about to wait for input, so
//! nothing it wrote is held back while the client waits for it: the
//! lockstep of calls and stream ticks cannot deadlock on the buffer.

use std::cell::RefCell;
use std::io::{BufReader, BufWriter, Read, Write};
use std::rc::Rc;

/// Bytes buffered on each side.
const CAPACITY: usize = 64 << 10;

/// `input` and `output` buffered, the output flushed before each read of
/// `input`.
pub(super) fn buffered<R: Read, W: Write>(
    input: R,
    output: W,
) -> (BufReader<FlushBeforeRead<R, W>>, SharedWriter<W>) {
    let output = Rc::new(RefCell::new(BufWriter::with_capacity(CAPACITY, output)));
    let reader = FlushBeforeRead {
        input,
        output: output.clone(),
    };
    (
        BufReader::with_capacity(CAPACITY, reader),
        SharedWriter(output),
    )
}

/// The input side: flushes the output, then reads.
pub(super) struct FlushBeforeRead<R, W: Write> {
    input: R,
    output: Rc<RefCell<BufWriter<W>>>,
}

impl<R: Read, W: Write> Read for FlushBeforeRead<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.output.borrow_mut().flush()?;
        self.input.read(buf)
    }
}

/// The output side, shared with the input side that flushes it.
pub(super) struct SharedWriter<W: Write>(Rc<RefCell<BufWriter<W>>>);

impl<W: Write> Write for SharedWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// An output that counts the write calls that reach it.
    #[derive(Clone, Default)]
    struct Output {
        bytes: Rc<RefCell<Vec<u8>>>,
        writes: Rc<Cell<usize>>,
    }

    impl Write for Output {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.writes.set(self.writes.get() + 1);
            self.bytes.borrow_mut().extend_from_slice(data);
            Ok(data.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An input of `requests`, one per read, that records how many output
    /// bytes had arrived by each read.
    struct Input {
        requests: Vec<Vec<u8>>,
        output: Output,
        seen: Rc<RefCell<Vec<usize>>>,
    }

    impl Read for Input {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.seen
                .borrow_mut()
                .push(self.output.bytes.borrow().len());
            if self.requests.is_empty() {
                return Ok(0);
            }
            let request = self.requests.remove(0);
            buf[..request.len()].copy_from_slice(&request);
            Ok(request.len())
        }
    }

    #[test]
    fn everything_written_reaches_the_output_before_the_next_read_in_one_write() {
        let output = Output::default();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let input = Input {
            requests: vec![b"first".to_vec(), b"second".to_vec()],
            output: output.clone(),
            seen: seen.clone(),
        };
        let (mut reader, mut writer) = buffered(input, output.clone());
        let mut request = [0u8; 16];
        assert_eq!(reader.read(&mut request).unwrap(), 5);
        for piece in [&b"ab"[..], b"cde", b"f"] {
            writer.write_all(piece).unwrap();
        }
        assert_eq!(output.writes.get(), 0, "the pieces wait in the buffer");
        assert_eq!(reader.read(&mut request).unwrap(), 6);
        assert_eq!(
            *seen.borrow(),
            [0, 6],
            "the second read came after the response"
        );
        assert_eq!(output.writes.get(), 1, "the response left in one write");
        writer.write_all(b"gh").unwrap();
        writer.flush().unwrap();
        assert_eq!(&output.bytes.borrow()[..], b"abcdefgh");
    }
}
