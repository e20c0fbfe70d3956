import CCurl
import RRStoreCore

/// Exercises the libcurl shim's typed setopt/getinfo wrappers without touching the network.
enum CurlProbe {
    static func check() throws {
        guard let info = curl_version_info(CURLVERSION_TENTH) else {
            throw RRStoreError(.io, "curl_version_info returned nothing")
        }
        let version = String(cString: info.pointee.version)
        guard !version.isEmpty else { throw RRStoreError(.io, "empty libcurl version") }
        guard let handle = curl_easy_init() else { throw RRStoreError(.io, "curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        guard rr_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, 1000) == CURLE_OK,
              rr_curl_setopt_string(handle, CURLOPT_URL, "http://127.0.0.1:9/") == CURLE_OK,
              rr_curl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, 5) == CURLE_OK
        else { throw RRStoreError(.io, "typed curl_easy_setopt wrappers failed") }
        var code: Int = -1
        guard rr_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK, code == 0 else {
            throw RRStoreError(.io, "typed curl_easy_getinfo wrapper failed")
        }
    }
}
