#include "arrow/vgi_buffer_pool.hpp"

#include <cstdlib>

namespace vgi {

//! The smallest block: smaller buffers would not be worth pooling apart.
static constexpr idx_t MINIMUM_BLOCK = 4096;

//===--------------------------------------------------------------------===//
// BufferPool
//===--------------------------------------------------------------------===//
BufferPool &BufferPool::Get() {
	static auto pool = new BufferPool();
	return *pool;
}

void BufferPool::SetLimit(idx_t bytes) {
	lock_guard<mutex> guard(lock);
	limit = MinValue<idx_t>(bytes, MAX_FREE_BYTES);
	TrimLocked();
}

void BufferPool::TrimLocked() {
	// The largest blocks go first: fewer frees for the same bytes.
	while (free_bytes > limit && !free_blocks.empty()) {
		auto largest = std::prev(free_blocks.end());
		auto &blocks = largest->second;
		std::free(blocks.back());
		blocks.pop_back();
		free_bytes -= largest->first;
		if (blocks.empty()) {
			free_blocks.erase(largest);
		}
	}
}

data_ptr_t BufferPool::Take(idx_t bytes, idx_t &capacity) {
	capacity = NextPowerOfTwo(MaxValue<idx_t>(bytes, MINIMUM_BLOCK));
	{
		lock_guard<mutex> guard(lock);
		auto entry = free_blocks.find(capacity);
		if (entry != free_blocks.end()) {
			auto block = entry->second.back();
			entry->second.pop_back();
			if (entry->second.empty()) {
				free_blocks.erase(entry);
			}
			free_bytes -= capacity;
			return block;
		}
	}
	auto block = static_cast<data_ptr_t>(std::malloc(capacity));
	if (!block) {
		throw OutOfMemoryException("vgi: failed to allocate %llu bytes for a batch buffer", capacity);
	}
	return block;
}

void BufferPool::Give(data_ptr_t block, idx_t capacity) {
	if (!block) {
		return;
	}
	{
		lock_guard<mutex> guard(lock);
		if (free_bytes + capacity <= limit) {
			free_blocks[capacity].push_back(block);
			free_bytes += capacity;
			return;
		}
	}
	std::free(block);
}

idx_t BufferPool::FreeBytes() {
	lock_guard<mutex> guard(lock);
	return free_bytes;
}

//===--------------------------------------------------------------------===//
// PooledBuffer
//===--------------------------------------------------------------------===//
PooledBuffer::~PooledBuffer() {
	Release();
}

void PooledBuffer::Release() {
	BufferPool::Get().Give(data, capacity);
	data = nullptr;
	size = 0;
	capacity = 0;
}

PooledBuffer::PooledBuffer(PooledBuffer &&other) noexcept
    : data(other.data), size(other.size), capacity(other.capacity) {
	other.data = nullptr;
	other.size = 0;
	other.capacity = 0;
}

PooledBuffer &PooledBuffer::operator=(PooledBuffer &&other) noexcept {
	if (this != &other) {
		Release();
		data = other.data;
		size = other.size;
		capacity = other.capacity;
		other.data = nullptr;
		other.size = 0;
		other.capacity = 0;
	}
	return *this;
}

void PooledBuffer::Reserve(idx_t bytes) {
	if (bytes <= capacity) {
		return;
	}
	idx_t new_capacity;
	auto block = BufferPool::Get().Take(bytes, new_capacity);
	if (size > 0) {
		memcpy(block, data, size);
	}
	BufferPool::Get().Give(data, capacity);
	data = block;
	capacity = new_capacity;
}

void PooledBuffer::Resize(idx_t bytes) {
	Reserve(bytes);
	size = bytes;
}

void PooledBuffer::Resize(idx_t bytes, data_t fill) {
	Reserve(bytes);
	if (bytes > size) {
		memset(data + size, fill, bytes - size);
	}
	size = bytes;
}

} // namespace vgi
