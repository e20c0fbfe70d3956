import RRStoreCore
import RRStoreStorage
import Testing

/// AWS's published S3 SigV4 examples ("Signature Calculations for the Authorization Header:
/// Transferring Payload in a Single Chunk"), which moto does not check for us.
@Suite struct SigV4Tests {
    let signer = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")
    let date = AMZDate(timestamp: "20130524T000000Z")
    let host = ("host", "examplebucket.s3.amazonaws.com")

    func authorization(_ request: SigV4Signer.Request) -> String {
        signer.sign(request, date: date).first { $0.0 == "authorization" }!.1
    }

    @Test func getObjectWithRange() {
        let auth = authorization(.init(method: "GET", path: "/test.txt", headers: [host, ("Range", "bytes=0-9")],
                                       payloadHash: SigV4Signer.emptyPayloadHash))
        #expect(auth == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObjectWithAnEncodedKeyAndABody() {
        let payload = SHA256Digest.hash(Array("Welcome to Amazon S3.".utf8)).hex
        #expect(payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let auth = authorization(.init(method: "PUT", path: "/" + SigV4Signer.encode("test$file.text", keepSlash: true),
                                       headers: [host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                       payloadHash: payload))
        #expect(auth.hasSuffix("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    }

    @Test func getBucketLifecycleWithAValuelessQuery() {
        let auth = authorization(.init(method: "GET", path: "/", query: [("lifecycle", "")], headers: [host],
                                       payloadHash: SigV4Signer.emptyPayloadHash))
        #expect(auth.hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"))
    }

    @Test func listObjectsWithAnUnsortedQuery() {
        let auth = authorization(.init(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [host],
                                       payloadHash: SigV4Signer.emptyPayloadHash))
        #expect(auth.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    }

    @Test func sessionTokensAreSentAndSigned() {
        let withToken = SigV4Signer(credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "x", sessionToken: "token"), region: "us-east-1")
        let headers = withToken.sign(.init(method: "GET", path: "/", headers: [host], payloadHash: SigV4Signer.emptyPayloadHash), date: date)
        #expect(headers.contains { $0 == ("x-amz-security-token", "token") })
        #expect(headers.last!.1.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
    }

    @Test func encodingAndDates() {
        #expect(SigV4Signer.encode("rrweb/recordings/userId=a b/x~y.gz", keepSlash: true) == "rrweb/recordings/userId%3Da%20b/x~y.gz")
        #expect(SigV4Signer.encode("a/b") == "a%2Fb")
        #expect(SigV4Signer.encode("é") == "%C3%A9")
        #expect(AMZDate(secondsSince1970: 1_369_353_600).timestamp == "20130524T000000Z")
        #expect(AMZDate(secondsSince1970: 951_827_696).timestamp == "20000229T123456Z")
        #expect(AMZDate(secondsSince1970: 0).timestamp == "19700101T000000Z")
    }
}
