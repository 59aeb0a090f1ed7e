// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Script} from "forge-std/Script.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {IAgentRegistry} from "../contracts/interfaces/IAgentRegistry.sol";
import {TestUSDC} from "../contracts/mocks/TestUSDC.sol";

/// @title Seed
/// @notice Lists the catalog's agents (`agents/<name>/`) in a deployed registry: each with its
/// pinned image digest, its `metadata.json` inlined as a `data:application/json;base64,` URI
/// (so the catalog needs no metadata host), priced in the deployment's USDC. `make dev` runs it
/// after `scripts/agents.sh` has built the images. On the local chain it also funds a demo buyer
/// with test USDC, so a new user can try `nexus buy` right away with a public anvil key.
/// @dev Environment:
///   NEXUS_DEPLOYMENTS     deployments file to read addresses from (default deployments/31337.json)
///   NEXUS_SEED_AGENTS     agent directory names, comma-separated (summarizer,csv-analyzer,gas-advisor)
///   NEXUS_SEED_DIGESTS    their image ids' sha256 as bytes32, comma-separated, same order
///   NEXUS_SEED_PRICES     unit prices in USDC base units (6 decimals), same order
///   NEXUS_SEED_DEVELOPER  who is paid for them (default: anvil account 4)
///   NEXUS_SEED_BUYER      demo buyer minted test USDC on the local chain (default: anvil account 5)
///   NEXUS_SEED_BUYER_USDC how much, in USDC base units (default 1,000 USDC; 0 mints nothing)
///   CURATOR_PRIVATE_KEY   a key with the registry's CURATOR_ROLE (default: anvil account 0)
contract Seed is Script {
    uint256 internal constant ANVIL_KEY_0 =
        0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;
    address internal constant ANVIL_ACCOUNT_4 = 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65;
    address internal constant ANVIL_ACCOUNT_5 = 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc;
    uint256 internal constant LOCAL_CHAIN_ID = 31_337;
    /// @notice Wall-clock budget of one execution; the relayer caps the container at this.
    uint32 internal constant MAX_DURATION = 60;

    error LengthMismatch();
    error UnknownCategory(string category);

    function run() external {
        string memory deployments =
            vm.readFile(vm.envOr("NEXUS_DEPLOYMENTS", string("deployments/31337.json")));
        IAgentRegistry registry = IAgentRegistry(vm.parseJsonAddress(deployments, ".contracts.AgentRegistry"));
        address usdc = vm.parseJsonAddress(deployments, ".contracts.USDC");
        string[] memory names = vm.envString("NEXUS_SEED_AGENTS", ",");
        bytes32[] memory digests = vm.envBytes32("NEXUS_SEED_DIGESTS", ",");
        uint256[] memory prices = vm.envUint("NEXUS_SEED_PRICES", ",");
        if (names.length != digests.length || names.length != prices.length) revert LengthMismatch();
        address developer = vm.envOr("NEXUS_SEED_DEVELOPER", ANVIL_ACCOUNT_4);

        vm.startBroadcast(vm.envOr("CURATOR_PRIVATE_KEY", ANVIL_KEY_0));
        for (uint256 i; i < names.length; ++i) {
            string memory metadata = vm.readFile(string.concat("agents/", names[i], "/metadata.json"));
            registry.registerAgent(
                IAgentRegistry.AgentParams({
                    developer: developer,
                    paymentToken: usdc,
                    // forge-lint: disable-next-line(unsafe-typecast)
                    price: uint96(prices[i]),
                    maxDuration: MAX_DURATION,
                    category: _category(vm.parseJsonString(metadata, ".category")),
                    imageDigest: digests[i],
                    metadataURI: string.concat(
                        "data:application/json;base64,", Base64.encode(bytes(metadata))
                    )
                })
            );
        }
        // TestUSDC (open faucet) exists only on the local chain; elsewhere USDC is real.
        uint256 buyerUsdc = vm.envOr("NEXUS_SEED_BUYER_USDC", uint256(1_000e6));
        if (block.chainid == LOCAL_CHAIN_ID && buyerUsdc != 0) {
            TestUSDC(usdc).mint(vm.envOr("NEXUS_SEED_BUYER", ANVIL_ACCOUNT_5), buyerUsdc);
        }
        vm.stopBroadcast();
    }

    function _category(string memory name) internal pure returns (IAgentRegistry.Category) {
        bytes32 h = keccak256(bytes(name));
        if (h == keccak256("General")) return IAgentRegistry.Category.General;
        if (h == keccak256("Crypto")) return IAgentRegistry.Category.Crypto;
        revert UnknownCategory(name);
    }
}
