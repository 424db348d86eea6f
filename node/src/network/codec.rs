//! The block-sync request-response protocol and its bincode codec.
//!
//! A node that is behind asks a peer for its tip ([`SyncRequest::Status`])
//! and then for ranges of committed blocks with their commit certificates
//! ([`SyncRequest::Blocks`]), at most [`MAX_BLOCKS_PER_RESPONSE`] blocks and
//! [`MAX_RESPONSE_BYTES`] per answer. Every read is bounded before decoding.

use deltachain_protocol::{codec, CommitCertificate, Hash, Height};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

/// Protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/deltachain/sync/1");
/// Largest request read.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest response read.
pub const MAX_RESPONSE_BYTES: usize = 48 * 1024 * 1024;
/// Most blocks in one response.
pub const MAX_BLOCKS_PER_RESPONSE: u64 = 64;

/// A block-sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// What is your tip?
    Status,
    /// Committed blocks `from..=to`.
    Blocks {
        /// First height.
        from: Height,
        /// Last height.
        to: Height,
    },
}

/// A committed block as sent over sync: its canonical bytes (decoded with a
/// limit by the receiver) and its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedBlock {
    /// Canonical block bytes.
    pub block: Vec<u8>,
    /// Its commit certificate.
    pub cert: CommitCertificate,
}

/// A block-sync response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The peer's tip.
    Status {
        /// Height.
        height: Height,
        /// Hash.
        hash: Hash,
    },
    /// Blocks in height order, possibly fewer than asked.
    Blocks(Vec<SyncedBlock>),
    /// The request could not be served.
    Error(String),
}

/// bincode codec with size limits.
#[derive(Debug, Clone, Default)]
pub struct SyncCodec;

async fn read_bounded<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("sync message over {max} bytes"),
        ));
    }
    Ok(buf)
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<SyncRequest> {
        let buf = read_bounded(io, MAX_REQUEST_BYTES).await?;
        codec::decode(&buf, MAX_REQUEST_BYTES, "sync request").map_err(invalid)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<SyncResponse> {
        let buf = read_bounded(io, MAX_RESPONSE_BYTES).await?;
        codec::decode(&buf, MAX_RESPONSE_BYTES, "sync response").map_err(invalid)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> std::io::Result<()> {
        io.write_all(&codec::encode(&req)).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> std::io::Result<()> {
        io.write_all(&codec::encode(&res)).await?;
        io.close().await
    }
}
