//! The one way the tokio runtime for Graph work (and the emulator) is built.

/// Two worker threads: Graph work is waiting on the network, and the photo work has
/// its own rayon pool.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
