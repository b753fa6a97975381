import Foundation

/// llama-server's `GET /slots`: one object per parallel slot. Builds since 2025-05 have no
/// KV-cache gauge in `/metrics`, so the agent estimates the KV use from the slots: the
/// tokens held by slots that are processing (the prompt plus what was generated so far),
/// over the context of all slots (an idle slot's cached prompt is reused or evicted as new
/// requests need room, so it is not counted).
public enum LlamaSlots {
    /// The estimate, 0...1, or nil when the body is not a slot list.
    public static func kvUsage(_ body: [UInt8]) -> Double? {
        guard let slots = (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]], !slots.isEmpty else { return nil }
        var used = 0.0
        var total = 0.0
        for slot in slots {
            guard let ctx = (slot["n_ctx"] as? NSNumber)?.doubleValue, ctx > 0 else { return nil }
            total += ctx
            // Before Nov 2024 a numeric `state` (1 = processing) stood in for `is_processing`.
            let processing = (slot["is_processing"] as? Bool) ?? ((slot["state"] as? NSNumber)?.intValue == 1)
            guard processing else { continue }
            let prompt = (slot["n_prompt_tokens"] as? NSNumber)?.doubleValue ?? 0
            let decoded = ((slot["next_token"] as? [[String: Any]])?.first?["n_decoded"] as? NSNumber)?.doubleValue ?? 0
            used += min(prompt + decoded, ctx)
        }
        return total > 0 ? used / total : nil
    }
}
