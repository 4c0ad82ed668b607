import { describe, expect, it } from "vitest"
import * as HostCheck from "../src/domain/http/HostCheck.ts"

describe("HostCheck", () => {
  const byDefault = HostCheck.acceptedHosts({ bindHost: "localhost", externalUrl: "" })
  const named = HostCheck.acceptedHosts({ bindHost: "failmail.lan", externalUrl: "https://Ops.Example.com/failmail/" })

  it.each([
    ["localhost:8025"],
    ["localhost"],
    ["LOCALHOST:8025"],
    ["localhost.:8025"],
    ["127.0.0.1:8025"],
    ["127.0.0.1"],
    ["10.0.0.5:18025"],
    ["[::1]:8025"],
    ["[::1]"],
    ["[fe80::1]:80"]
  ])("accepts %j: localhost and IP literals, on any port", (host) => {
    expect(HostCheck.isAccepted(byDefault, host)).toBe(true)
  })

  it.each([
    ["evil.example:8025"],
    ["evil.example"],
    ["localhost.evil.example"],
    ["127.0.0.1.evil.example"],
    ["evil.example@localhost"],
    ["localhost/path"],
    ["localhost:8025 evil"],
    ["999.1.1.1"],
    ["[::1"],
    [""],
    [":8025"]
  ])("refuses %j", (host) => {
    expect(HostCheck.isAccepted(byDefault, host)).toBe(false)
  })

  it("refuses a request without a Host header", () => {
    expect(HostCheck.isAccepted(byDefault, undefined)).toBe(false)
  })

  it("accepts the --bind-http host and the --external-url host, with or without a port", () => {
    for (const host of ["failmail.lan:8025", "failmail.lan", "ops.example.com", "OPS.example.com:443", "localhost:8025"]) {
      expect(HostCheck.isAccepted(named, host), host).toBe(true)
    }
    for (const host of ["example.com", "failmail.example.com", "lan"]) {
      expect(HostCheck.isAccepted(named, host), host).toBe(false)
    }
  })

  it("a wildcard or address bind adds no name", () => {
    for (const bindHost of ["", "0.0.0.0", "::", "127.0.0.1"]) {
      expect(HostCheck.acceptedHosts({ bindHost, externalUrl: "" }).names).toEqual(new Set(["localhost"]))
    }
    expect(HostCheck.acceptedHosts({ bindHost: "", externalUrl: "http://[::1]:8025/" }).names).toEqual(new Set(["localhost"]))
  })
})
