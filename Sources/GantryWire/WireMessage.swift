public import GantryModel
public import NIOCore
import SwiftProtobuf

/// Everything that crosses the wire, as model values. Only this module sees the
/// generated protobuf types.
public enum WireMessage: Hashable, Sendable {
    case hello(Hello)
    case challenge(Challenge)
    case auth(mac: [UInt8])
    case welcome(Welcome)
    case reject(Reject)
    case agent(AgentMessage)
    case coordinator(CoordinatorMessage)
    case adminRequest(AdminRequest)
    case adminResponse(AdminResponse)
    case jobEvent(JobEvent)
    case error(GantryError, fatal: Bool)
    case goodbye(String)
    /// A standby's answer to Hello: the leader's address ("" when none) and epoch.
    case notLeader(address: String, epoch: UInt64, message: String)
    /// A valid Envelope whose content this side cannot take: an unknown payload (from a
    /// newer peer), an unknown request type or enum value, or a malformed field. The
    /// receiver answers with a non-fatal error echoing the envelope's request id; the
    /// connection stays open. Never sent as such.
    case unreadable(GantryError)

    /// A short name for error messages and logs.
    public var kind: String {
        switch self {
        case .hello: "Hello"
        case .challenge: "Challenge"
        case .auth: "Auth"
        case .welcome: "Welcome"
        case .reject: "Reject"
        case .agent(let m):
            switch m {
            case .register: "Register"
            case .heartbeat: "Heartbeat"
            case .accept: "JobAccept"
            case .reject: "JobReject"
            case .progress: "JobProgress"
            case .result: "JobResult"
            }
        case .coordinator(let m):
            switch m {
            case .registered: "Registered"
            case .assign: "JobAssign"
            case .cancel: "JobCancel"
            case .ack: "JobAck"
            case .heartbeatAck: "HeartbeatAck"
            }
        case .adminRequest: "AdminRequest"
        case .adminResponse: "AdminResponse"
        case .jobEvent: "JobEvent"
        case .error: "Error"
        case .goodbye: "Goodbye"
        case .notLeader: "NotLeader"
        case .unreadable: "an unreadable message"
        }
    }
}

/// One frame's content: a message and, for control traffic, its request id.
public struct WireEnvelope: Hashable, Sendable {
    public var requestID: UInt64
    public var message: WireMessage

    public init(_ message: WireMessage, requestID: UInt64 = 0) {
        self.requestID = requestID
        self.message = message
    }

    /// Parses one frame body; nothing here traps on bad input. Bytes that are not an
    /// Envelope throw `bad_frame` (the stream cannot be trusted: fatal). An Envelope whose
    /// content this side cannot take decodes to `.unreadable`, keeping its request id, so
    /// the receiver can refuse that one message and carry on.
    public init(frame: ByteBuffer) throws(GantryError) {
        let envelope: Gantry_V1_Envelope
        do {
            envelope = try Gantry_V1_Envelope(serializedBytes: frame.readableBytesSpan)
        } catch {
            throw GantryError(.badFrame, "frame is not a valid Envelope: \(error)")
        }
        self.requestID = envelope.requestID
        guard let payload = envelope.payload else {
            let fields = Self.unknownFieldNumbers(Array(envelope.unknownFields.data))
            self.message = .unreadable(fields.isEmpty
                ? GantryError(.badRequest, "Envelope carries no payload")
                : GantryError(.unexpectedMessage, "Envelope carries an unknown payload (field \(fields.map(String.init).joined(separator: ", "))): the peer is newer"))
            return
        }
        do {
            self.message = try WireMessage(payload)
        } catch {
            self.message = .unreadable(error)
        }
    }

    /// Serializes to a frame body (the framing handler adds the length).
    public func encode(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let bytes = serialized()
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// Appends this envelope as a whole frame (its 4-byte length, then its bytes), for a
    /// writer that frames many at once below the frame encoder (`Outbox`).
    public func encodeFrame(into buffer: inout ByteBuffer) {
        let bytes = serialized()
        buffer.reserveCapacity(minimumWritableBytes: FrameDecoder.headerBytes + bytes.count)
        buffer.writeInteger(UInt32(bytes.count), endianness: .big)
        buffer.writeBytes(bytes)
    }

    private func serialized() -> [UInt8] {
        var envelope = Gantry_V1_Envelope()
        envelope.requestID = requestID
        envelope.payload = message.proto
        // Serializing a message built from model values cannot fail: there are no
        // required fields or unset Any types in this schema.
        return (try? envelope.serializedBytes()) ?? []
    }

    /// Field numbers of the top-level unknown fields, for the error message.
    static func unknownFieldNumbers(_ data: [UInt8]) -> [Int] {
        var fields: [Int] = []
        var i = 0
        func varint() -> UInt64? {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while i < data.count, shift < 64 {
                let b = data[i]
                i += 1
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
            return nil
        }
        while i < data.count, fields.count < 8 {
            guard let key = varint() else { break }
            fields.append(Int(key >> 3))
            switch key & 7 {
            case 0: _ = varint()
            case 1: i += 8
            case 2:
                guard let n = varint() else { return fields }
                i += Int(clamping: n)
            case 5: i += 4
            default: return fields
            }
        }
        return fields
    }
}

extension WireMessage {
    init(_ payload: Gantry_V1_Envelope.OneOf_Payload) throws(GantryError) {
        switch payload {
        case .hello(let h): self = .hello(Hello(h))
        case .challenge(let c): self = .challenge(Challenge(version: c.version, nonce: Array(c.nonce), serverID: c.serverID))
        case .auth(let a): self = .auth(mac: Array(a.mac))
        case .welcome(let w): self = .welcome(Welcome(w))
        case .reject(let r):
            self = .reject(Reject(GantryError(ErrorCode(r.code), r.message), minVersion: r.minVersion, maxVersion: r.maxVersion))
        case .register(let r): self = .agent(.register(try Registration(r)))
        case .registered(let r): self = .coordinator(.registered(try Registered(r)))
        case .heartbeat(let h): self = .agent(.heartbeat(try Heartbeat(h)))
        case .jobAssign(let a): self = .coordinator(.assign(try Assignment(a)))
        case .jobAccept(let a): self = .agent(.accept(try AttemptRef(job: a.jobID, attempt: a.attempt)))
        case .jobReject(let r): self = .agent(.reject(try AttemptRef(job: r.jobID, attempt: r.attempt), reason: r.reason))
        case .jobProgress(let p): self = .agent(.progress(try JobProgress(p)))
        case .jobResult(let r): self = .agent(.result(try AttemptResult(r)))
        case .jobCancel(let c): self = .coordinator(.cancel(try AttemptRef(job: c.jobID, attempt: c.attempt), reason: c.reason))
        case .jobAck(let a): self = .coordinator(.ack(try AttemptRef(job: a.jobID, attempt: a.attempt)))
        case .heartbeatAck(let a): self = .coordinator(.heartbeatAck(seq: a.seq))
        case .adminRequest(let r): self = .adminRequest(try AdminRequest(r))
        case .adminResponse(let r): self = .adminResponse(try AdminResponse(r))
        case .jobEvent(let e): self = .jobEvent(JobEvent(job: try Job(e.job), outputDelta: e.outputDelta, final: e.final, outputReset: e.outputReset))
        case .error(let e): self = .error(GantryError(ErrorCode(e.code), e.message), fatal: e.fatal)
        case .goodbye(let g): self = .goodbye(g.reason)
        case .notLeader(let n): self = .notLeader(address: n.leaderAddress, epoch: n.epoch, message: n.message)
        }
    }

    var proto: Gantry_V1_Envelope.OneOf_Payload {
        switch self {
        case .hello(let h): return .hello(h.proto)
        case .challenge(let c):
            return .challenge(.with {
                $0.version = c.version
                $0.nonce = .init(c.nonce)
                $0.serverID = c.serverID
            })
        case .auth(let mac): return .auth(.with { $0.mac = .init(mac) })
        case .welcome(let w): return .welcome(w.proto)
        case .reject(let r):
            return .reject(.with {
                $0.code = r.error.code.proto
                $0.message = r.error.message
                $0.minVersion = r.minVersion
                $0.maxVersion = r.maxVersion
            })
        case .agent(let m):
            switch m {
            case .register(let r): return .register(r.proto)
            case .heartbeat(let h): return .heartbeat(h.proto)
            case .accept(let ref):
                return .jobAccept(.with {
                    $0.jobID = ref.job.description
                    $0.attempt = ref.attempt
                })
            case .reject(let ref, let reason):
                return .jobReject(.with {
                    $0.jobID = ref.job.description
                    $0.attempt = ref.attempt
                    $0.reason = reason
                })
            case .progress(let p): return .jobProgress(p.proto)
            case .result(let r): return .jobResult(r.proto)
            }
        case .coordinator(let m):
            switch m {
            case .registered(let r): return .registered(r.proto)
            case .assign(let a): return .jobAssign(a.proto)
            case .cancel(let ref, let reason):
                return .jobCancel(.with {
                    $0.jobID = ref.job.description
                    $0.attempt = ref.attempt
                    $0.reason = reason
                })
            case .ack(let ref):
                return .jobAck(.with {
                    $0.jobID = ref.job.description
                    $0.attempt = ref.attempt
                })
            case .heartbeatAck(let seq):
                return .heartbeatAck(.with { $0.seq = seq })
            }
        case .adminRequest(let r): return .adminRequest(r.proto)
        case .adminResponse(let r): return .adminResponse(r.proto)
        case .jobEvent(let e):
            return .jobEvent(.with {
                $0.job = e.job.proto
                $0.outputDelta = e.outputDelta
                $0.final = e.final
                $0.outputReset = e.outputReset
            })
        case .error(let e, let fatal):
            return .error(.with {
                $0.code = e.code.proto
                $0.message = e.message
                $0.fatal = fatal
            })
        case .goodbye(let reason): return .goodbye(.with { $0.reason = reason })
        case .notLeader(let address, let epoch, let message):
            return .notLeader(.with {
                $0.leaderAddress = address
                $0.epoch = epoch
                $0.message = message
            })
        case .unreadable(let e):
            return .error(.with {
                $0.code = e.code.proto
                $0.message = e.message
            })
        }
    }
}
