public import GantryModel

/// The JSON shapes of `--output json`, as the README's CLI reference documents them.
extension NodeInfo {
    public var json: JSONValue {
        .object([
            ("id", .string(id.rawValue)),
            ("state", .string(state.rawValue)),
            ("labels", .object(labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("cpus", .int(Int64(inventory.cpus))),
            ("cpu_model", .string(inventory.cpuModel)),
            ("memory_bytes", .int(Int64(clamping: inventory.memoryBytes))),
            ("gpus", .array(inventory.gpus.map { g in
                .object([
                    ("index", .int(Int64(g.index))), ("uuid", .string(g.uuid)), ("name", .string(g.name)),
                    ("memory_bytes", .int(Int64(clamping: g.memoryBytes))), ("mig_enabled", .bool(g.migEnabled)),
                ])
            })),
            ("gpu_source", .string(inventory.gpuSource.rawValue)),
            ("engines", .array(engines.map { e in
                .object([
                    ("name", .string(e.name)), ("kind", .string(e.kind.rawValue)), ("models", .array(e.models.map { .string($0) })),
                    ("slots", .int(Int64(e.slots))), ("slots_used", .int(Int64(e.slotsUsed))), ("healthy", .bool(e.healthy)),
                    ("health_detail", .string(e.healthDetail)),
                ] + (e.telemetry.map { [("telemetry", $0.json)] } ?? []))
            })),
            ("cost_usd_per_hour", .dollars(costMicroUSDPerHour)),
            ("last_heartbeat", .time(lastHeartbeat)),
            ("connected_at", .time(connectedAt)),
            ("address", .string(address)),
            ("cordoned", .bool(cordoned)),
            ("draining", .bool(draining)),
            ("running_attempts", .int(Int64(runningAttempts))),
            ("hostname", .string(inventory.hostname)),
        ])
    }
}

extension Job {
    public var json: JSONValue {
        .object([
            ("id", .string(id.description)),
            ("state", .string(state.rawValue)),
            ("model", .string(spec.model)),
            ("tenant", .string(spec.tenant)),
            ("priority", .int(Int64(spec.priority))),
            ("node", .optional(node?.rawValue)),
            ("attempts", .int(Int64(attempts.count))),
            ("max_tokens", .int(Int64(spec.maxTokens))),
            ("prompt_tokens", .int(Int64(usage.promptTokens))),
            ("completion_tokens", .int(Int64(usage.completionTokens))),
            ("tokens_estimated", .bool(usage.estimated)),
            ("output", .string(output)),
            ("simulated", .bool(simulated)),
            ("cost_usd", receipt.map { .dollars($0.totalMicroUSD) } ?? .null),
            ("energy_joules", receipt.map { .double(Double($0.energyMillijoules) / 1000) } ?? .null),
            ("energy_measured", receipt.map { .bool($0.energyMeasured) } ?? .null),
            ("submitted_at", .time(submittedAt)),
            ("started_at", .time(startedAt)),
            ("first_token_at", .time(firstTokenAt)),
            ("finished_at", .time(finishedAt)),
            ("error", .optional(error)),
            ("constraints", .object(spec.constraints.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("receipt", receipt.map(\.json) ?? .null),
            ("attempt_history", .array(attempts.map { a in
                .object([
                    ("attempt", .int(Int64(a.number))), ("node", .string(a.node.rawValue)), ("engine", .string(a.engine)),
                    ("state", .string(a.state.rawValue)), ("error", .optional(a.error)), ("assigned_at", .time(a.assignedAt)),
                    ("started_at", .time(a.startedAt)), ("finished_at", .time(a.finishedAt)),
                    ("receipt", a.receipt.map(\.json) ?? .null),
                ])
            })),
        ])
    }
}

extension Receipt {
    /// What one attempt (or, summed, a job) cost: tokens, time, energy and dollars by component.
    public var json: JSONValue {
        .object([
            ("prompt_tokens", .int(Int64(promptTokens))),
            ("completion_tokens", .int(Int64(completionTokens))),
            ("wall_ms", .int(wallMs)),
            ("slot_ms", .int(slotMs)),
            ("energy_joules", .double(Double(energyMillijoules) / 1000)),
            ("energy_measured", .bool(energyMeasured)),
            ("depreciation_usd", .dollars(depreciationMicroUSD)),
            ("energy_usd", .dollars(energyMicroUSD)),
            ("overhead_usd", .dollars(overheadMicroUSD)),
            ("total_usd", .dollars(totalMicroUSD)),
        ])
    }
}

extension ClusterStatus {
    public var json: JSONValue {
        .object([
            ("version", .string(software)),
            ("started_at", .time(startedAt)),
            ("nodes", .object(NodeState.allCases.map { ($0.rawValue, .int(Int64(nodes[$0] ?? 0))) })),
            ("jobs", .object(JobState.allCases.map { ($0.rawValue, .int(Int64(jobs[$0] ?? 0))) })),
            ("queue_depth", .int(Int64(queueDepth))),
            ("slots_total", .int(Int64(slotsTotal))),
            ("slots_used", .int(Int64(slotsUsed))),
            ("tokens_per_second", .double(tokensPerSecond)),
            ("leader", leaderEpoch > 0 ? .object([("address", .string(leaderAddress)), ("epoch", .int(Int64(leaderEpoch)))]) : .null),
            ("standbys", .array(standbys.map { .string($0) })),
        ])
    }
}

extension NodeVerdict {
    public var json: JSONValue {
        .object([
            ("node", .string(node.rawValue)),
            ("feasible", .bool(feasible)),
            ("filter", .optional(rejection?.filter)),
            ("reason", .optional(rejection?.reason)),
            ("engine", engine.isEmpty ? .null : .string(engine)),
            ("scores", .object(scores.sorted { $0.key < $1.key }.map { ($0.key, .double(($0.value * 100).rounded() / 100)) })),
            ("total", feasible ? .double((total * 100).rounded() / 100) : .null),
        ])
    }
}

extension Explanation {
    public var json: JSONValue {
        .object([
            ("job", .string(job.description)),
            ("state", .string(jobState.rawValue)),
            ("evaluated_at", .time(evaluatedAt)),
            ("weights", .object(weights.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })),
            ("would_choose", .optional(wouldChoose?.rawValue)),
            ("verdicts", .array(verdicts.map(\.json))),
            ("placed_on", .optional(placedOn?.rawValue)),
            ("placed_at", .time(placedAt)),
            ("placed_candidates", .array(placedCandidates.map(\.json))),
        ])
    }
}

extension ReportRow {
    public var json: JSONValue {
        .object([
            ("key", .string(key)),
            ("attempts", .int(attempts)),
            ("tokens", .int(tokens)),
            ("prompt_tokens", .int(promptTokens)),
            ("completion_tokens", .int(completionTokens)),
            ("busy_seconds", .double(Double(busyMs) / 1000)),
            ("idle_seconds", .double(Double(idleMs) / 1000)),
            ("utilization", .double(utilization)),
            ("spend_usd", .dollars(spendMicroUSD)),
            ("idle_usd", .dollars(idleMicroUSD)),
            ("usd_per_mtok_allocation", .double(usdPerMTokAllocation)),
            ("usd_per_mtok_usage", .double(usdPerMTokUsage)),
            ("energy_joules", .double(Double(energyMillijoules) / 1000)),
            ("joules_per_token", .double(joulesPerToken)),
            ("energy_measured", .bool(energyMeasured)),
            ("tokens_per_second", .double(tokensPerSecond)),
            ("spend_micro_usd", .int(spendMicroUSD)),
            ("idle_micro_usd", .int(idleMicroUSD)),
            ("energy_millijoules", .int(energyMillijoules)),
            ("outside_tokens", .int(outsideTokens)),
        ])
    }
}

extension Report {
    public var json: JSONValue {
        .object([
            ("by", .string(by.rawValue)),
            ("from", .time(from)),
            ("to", .time(to)),
            ("rows", .array(rows.map(\.json))),
            ("total", total.json),
        ])
    }
}

extension ApiKey {
    /// `{id, key, tenant, priority, models, name, max_inflight, created_at, revoked_at}`;
    /// `key` only when just created.
    public func json(secret: String?) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("id", .string(id))]
        if let secret { pairs.append(("key", .string(secret))) }
        pairs += [
            ("tenant", .string(spec.tenant)), ("priority", .int(Int64(spec.priority))),
            ("models", .array(spec.models.map { .string($0) })), ("name", .string(spec.name)),
            ("max_inflight", .int(Int64(spec.maxInflight))), ("created_at", .time(createdAt)), ("revoked_at", .time(revokedAt)),
        ]
        return .object(pairs)
    }
}

extension EngineTelemetry {
    public var json: JSONValue {
        func int(_ n: Int?) -> JSONValue { n.map { .int(Int64($0)) } ?? .null }
        func count(_ n: UInt64?) -> JSONValue { n.map { .int(Int64(clamping: $0)) } ?? .null }
        return .object([
            ("source", source.map { .string($0.rawValue) } ?? .null),
            ("running", int(running)), ("waiting", int(waiting)),
            ("kv_usage", kvUsage.map { .double($0) } ?? .null),
            ("prompt_tokens", count(promptTokens)), ("generation_tokens", count(generationTokens)),
            ("cached_prompt_tokens", count(cachedPromptTokens)),
            ("scraped_at", .time(scrapedAt)), ("failures", .int(Int64(failures))), ("gantry_running", .int(Int64(gantryRunning))),
        ])
    }
}
