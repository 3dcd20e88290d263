// Memory for the buffers of the batches the bridge builds, kept for reuse.
#pragma once

#include "duckdb.hpp"

namespace vgi {

using namespace duckdb;

//! Free blocks of batch-buffer memory, shared by every query of the process.
//! A batch's buffers come from here and go back when the batch is released
//! (the store's memory tier drops it, a worker has read it), so the next
//! batches reuse memory that is already mapped instead of faulting in fresh
//! pages, which the kernel must zero (that costs more than the copy into
//! the buffer). Blocks are powers of two; at most `limit` bytes are kept
//! free (the latest query's `vgi_memory_budget`, and never more than
//! MAX_FREE_BYTES), the rest is freed at once. The cap keeps a query's peak
//! memory near native's: what the memory tier releases while the source
//! drains it is not needed again in that query, and keeping all of it for
//! the next query would hold the tier's whole size twice at the peak.
class BufferPool {
public:
	static constexpr idx_t MAX_FREE_BYTES = 64ULL << 20;

	//! The one pool of this library; never destroyed, so that a batch
	//! released during the process's exit still finds it.
	static BufferPool &Get();
	//! Keeps at most `bytes` (at most MAX_FREE_BYTES) free from now on,
	//! freeing the excess now.
	void SetLimit(idx_t bytes);
	//! A block of at least `bytes`; `capacity` receives its size.
	data_ptr_t Take(idx_t bytes, idx_t &capacity);
	//! Takes back a block from Take (`capacity` as Take reported it).
	void Give(data_ptr_t block, idx_t capacity);
	//! Bytes held free.
	idx_t FreeBytes();

private:
	void TrimLocked();

	mutex lock;
	idx_t limit = 0;
	idx_t free_bytes = 0;
	//! Free blocks by capacity.
	map<idx_t, vector<data_ptr_t>> free_blocks;
};

//! A growable byte buffer in BufferPool memory (given back when destroyed).
class PooledBuffer {
public:
	PooledBuffer() = default;
	~PooledBuffer();
	PooledBuffer(const PooledBuffer &) = delete;
	PooledBuffer &operator=(const PooledBuffer &) = delete;
	PooledBuffer(PooledBuffer &&other) noexcept;
	PooledBuffer &operator=(PooledBuffer &&other) noexcept;

	//! Room for `bytes` without moving; the contents are kept.
	void Reserve(idx_t bytes);
	//! Sets the size to `bytes` (new bytes are not initialised).
	void Resize(idx_t bytes);
	//! Sets the size to `bytes`, new bytes set to `fill`.
	void Resize(idx_t bytes, data_t fill);
	data_ptr_t Data() {
		return data;
	}
	idx_t Size() const {
		return size;
	}
	idx_t Capacity() const {
		return capacity;
	}

private:
	void Release();

	data_ptr_t data = nullptr;
	idx_t size = 0;
	idx_t capacity = 0;
};

} // namespace vgi
