import GantryModel
public import GantryWire
public import NIOCore
public import NIOPosix
public import NIOSSL

/// Opens authenticated protocol connections (agents and control clients).
public enum GantryClient {
    public typealias Connection = NIOAsyncChannel<ClientInbound, ByteBuffer>

    /// TLS for a connection: the context and the name to verify the server as.
    public struct TLS: Sendable {
        public var context: NIOSSLContext
        public var serverName: String?

        public init(context: NIOSSLContext, serverName: String?) {
            self.context = context
            self.serverName = serverName
        }
    }

    /// Connects and starts the handshake. The first inbound element is `.established`
    /// (or the stream throws the server's Reject as a `GantryError`). With a `tap`, frames
    /// after the handshake go to it rather than to the stream (see `FrameTap`).
    public static func connect(
        host: String, port: Int, handshake: ClientHandshake, maxFrameBytes: Int = defaultMaxFrameBytes,
        timeout: TimeAmount = .seconds(5), tls: TLS? = nil, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        tap: FrameTap? = nil
    ) async throws -> Connection {
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            let name = tls.serverName ?? (host.first?.isLetter == true ? host : nil)
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: name))
                        }
                        try channel.pipeline.syncOperations.addGantryFraming(maxFrameBytes: maxFrameBytes)
                        try channel.pipeline.syncOperations.addHandler(ClientConnectionHandler(handshake: handshake, timeout: timeout))
                        if let tap { try channel.pipeline.syncOperations.addHandler(tap) }
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch let error as GantryError {
            throw error
        } catch {
            throw GantryError(.unavailable, "cannot connect to \(host):\(port): \(describeConnectError(error))")
        }
    }

    /// Waits for the Welcome on a fresh connection's inbound stream.
    public static func awaitWelcome(_ iterator: inout NIOAsyncChannelInboundStream<ClientInbound>.AsyncIterator) async throws -> Welcome {
        do {
            switch try await iterator.next() {
            case .established(let w)?: return w
            case .frame?: throw GantryError(.unexpectedMessage, "the server sent a frame before Welcome")
            case nil: throw GantryError(.unavailable, "the server closed the connection during the handshake")
            }
        } catch let e as GantryError {
            throw e
        } catch let r as NotLeaderError {
            throw r
        } catch {
            throw GantryError(.unavailable, "the connection failed during the handshake: \(error)")
        }
    }
}

func describeConnectError(_ error: any Error) -> String {
    let text = "\(error)"
    if text.contains("connection refused") || text.contains("Connection refused") { return "connection refused (is gantryd running?)" }
    if let e = error as? ChannelError, case .connectTimeout = e { return "timed out" }
    return text
}
