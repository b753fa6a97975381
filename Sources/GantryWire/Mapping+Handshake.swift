import GantryModel

extension ErrorCode {
    init(_ proto: Gantry_V1_ErrorCode) {
        self = ErrorCode(rawValue: proto.rawValue) ?? .unspecified
    }

    var proto: Gantry_V1_ErrorCode { Gantry_V1_ErrorCode(rawValue: rawValue) ?? .unspecified }
}

extension Permission {
    init?(_ proto: Gantry_V1_Permission) {
        switch proto {
        case .readOnly: self = .readOnly
        case .admin: self = .admin
        default: return nil
        }
    }

    var proto: Gantry_V1_Permission { self == .admin ? .admin : .readOnly }
}

extension Hello {
    init(_ p: Gantry_V1_Hello) {
        let role: PeerRole? =
            switch p.role {
            case .agent: .agent
            case .admin: .admin
            default: nil
            }
        self.init(minVersion: p.minVersion, maxVersion: p.maxVersion, role: role, nodeID: p.nodeID, software: p.software)
    }

    var proto: Gantry_V1_Hello {
        .with {
            $0.minVersion = minVersion
            $0.maxVersion = maxVersion
            $0.role = role == .agent ? .agent : role == .admin ? .admin : .unspecified
            $0.nodeID = nodeID
            $0.software = software
        }
    }
}

extension Welcome {
    init(_ p: Gantry_V1_Welcome) {
        self.init(
            version: p.version, sessionID: p.sessionID, heartbeatIntervalMs: p.heartbeatIntervalMs, ttlMs: p.ttlMs,
            maxFrameBytes: p.maxFrameBytes, software: p.software, permission: Permission(p.permission))
    }

    var proto: Gantry_V1_Welcome {
        .with {
            $0.version = version
            $0.sessionID = sessionID
            $0.heartbeatIntervalMs = heartbeatIntervalMs
            $0.ttlMs = ttlMs
            $0.maxFrameBytes = maxFrameBytes
            $0.software = software
            $0.permission = permission?.proto ?? .agent
        }
    }
}

/// Parsing helpers that turn bad identifiers into errors naming the field.
func parseNodeID(_ s: String, field: String) throws(GantryError) -> NodeID {
    guard let id = NodeID(s) else {
        throw GantryError(.badRequest, "\(field) '\(s.prefix(80))' is not a valid node id")
    }
    return id
}

func parseJobID(_ s: String, field: String = "job_id") throws(GantryError) -> JobID {
    guard let id = JobID(s) else {
        throw GantryError(.badRequest, "\(field) '\(s.prefix(80))' is not a valid job id (13 characters of base32)")
    }
    return id
}

extension AttemptRef {
    init(job: String, attempt: UInt32) throws(GantryError) {
        self.init(job: try parseJobID(job), attempt: attempt)
    }

    var proto: Gantry_V1_AttemptRef {
        .with {
            $0.jobID = job.description
            $0.attempt = attempt
        }
    }
}

func timestamp(_ ms: Int64) -> Timestamp? { ms == 0 ? nil : Timestamp(unixMillis: ms) }
