// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BaseAccount} from "@account-abstraction/contracts/core/BaseAccount.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";

import {INexusAccount} from "../../contracts/account/INexusAccount.sol";
import {NexusAccount} from "../../contracts/account/NexusAccount.sol";
import {NexusAccountFactory} from "../../contracts/account/NexusAccountFactory.sol";
import {CreditId} from "../../contracts/libraries/CreditId.sol";
import {AccountTest} from "./AccountFixtures.sol";

/// @notice The account with its owner, the factory and ERC-1271, all through the real EntryPoint.
contract NexusAccountTest is AccountTest {
    // ------------------------------------------------------------------ EntryPoint placement

    function test_entryPointSitsAtItsCanonicalAddress() public view {
        assertEq(address(entryPoint), 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108);
        assertGt(address(entryPoint).code.length, 0);
        assertEq(address(account.entryPoint()), address(entryPoint));
        assertEq(address(factory.entryPoint()), address(entryPoint));
    }

    function test_deployEntryPointIsSkippedWhenCodeExists() public {
        bytes32 codeHash = address(entryPoint).codehash;
        assertEq(address(_deployEntryPoint()), address(entryPoint));
        assertEq(address(entryPoint).codehash, codeHash);
    }

    // ------------------------------------------------------------------ factory

    function test_getAddressIsDeterministicBeforeDeployment() public {
        address predicted = factory.getAddress(alice, 7);
        assertEq(predicted.code.length, 0);
        vm.expectEmit(address(factory));
        emit NexusAccountFactory.AccountCreated(predicted, alice, 7);
        NexusAccount created = _createAccount(alice, 7);
        assertEq(address(created), predicted);
        assertEq(created.owner(), alice);
        assertNotEq(factory.getAddress(alice, 8), predicted);
        assertNotEq(factory.getAddress(bob, 7), predicted);
    }

    function test_accountCodeHashMatchesEveryAccount() public {
        NexusAccount a = _createAccount(alice, 3);
        NexusAccount b = _createAccount(bob, 4);
        assertEq(address(a).codehash, factory.accountCodeHash());
        assertEq(address(b).codehash, factory.accountCodeHash());
        assertEq(address(account).codehash, factory.accountCodeHash());
        // Not the implementation's (a mimic copying NexusAccount's code would not pass either).
        assertNotEq(address(factory.accountImplementation()).codehash, factory.accountCodeHash());
    }

    function test_createAccountIsIdempotent() public {
        vm.recordLogs();
        NexusAccount again = _createAccount(owner, 0);
        assertEq(address(again), address(account));
        assertEq(vm.getRecordedLogs().length, 0, "no second deployment");
        assertEq(again.owner(), owner);
    }

    function test_initializeRunsOnce() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        account.initialize(stranger);
        NexusAccount implementation = factory.accountImplementation();
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        implementation.initialize(stranger);
    }

    function test_createAccountRejectsZeroOwner() public {
        address senderCreator = address(entryPoint.senderCreator());
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidOwner.selector, address(0)));
        vm.prank(senderCreator);
        factory.createAccount(address(0), 0);
    }

    /// Nobody but the EntryPoint's SenderCreator may deploy an account: deploying it ahead of the
    /// owner's first operation would make that operation fail with AA10.
    function test_createAccountOnlyFromSenderCreator() public {
        assertEq(address(factory.senderCreator()), address(entryPoint.senderCreator()));
        address predicted = factory.getAddress(alice, 9);
        address[3] memory callers = [stranger, alice, address(entryPoint)];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(NexusAccountFactory.NotSenderCreator.selector, callers[i]));
            vm.prank(callers[i]);
            factory.createAccount(alice, 9);
        }
        // Not even for an account that already exists.
        vm.expectRevert(abi.encodeWithSelector(NexusAccountFactory.NotSenderCreator.selector, stranger));
        vm.prank(stranger);
        factory.createAccount(owner, 0);
        assertEq(predicted.code.length, 0);
        // The address stays free to compute, and the EntryPoint still finds it through initCode.
        bytes memory initCode =
            abi.encodePacked(address(factory), abi.encodeCall(factory.createAccount, (alice, 9)));
        vm.expectRevert(abi.encodeWithSelector(IEntryPoint.SenderAddressResult.selector, predicted));
        entryPoint.getSenderAddress(initCode);
    }

    function test_factoryPinsTheSessionKeyPaymaster() public {
        assertEq(account.sessionKeyPaymaster(), address(paymaster));
        assertEq(factory.accountImplementation().sessionKeyPaymaster(), address(paymaster));
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidPaymaster.selector, address(0)));
        new NexusAccountFactory(entryPoint, address(0));
    }

    /// The first operation deploys the account through the factory (initCode) and is sponsored.
    function test_firstOperationDeploysTheAccount() public {
        address predicted = factory.getAddress(alice, 1);
        (, uint256 aliceKey) = makeAddrAndKey("alice");
        usdc.mint(predicted, 10e6);

        PackedUserOperation memory op =
            _op(predicted, _execute(address(usdc), 0, abi.encodeCall(usdc.transfer, (bob, 4e6))));
        op.initCode = abi.encodePacked(address(factory), abi.encodeCall(factory.createAccount, (alice, 1)));
        _sponsor(op);
        _signOwner(op, aliceKey);
        assertTrue(_handleAndReturnSuccess(op));

        assertGt(predicted.code.length, 0);
        assertEq(NexusAccount(payable(predicted)).owner(), alice);
        assertEq(usdc.balanceOf(bob), 4e6);
        assertEq(predicted.balance, 0, "the account never needed ETH");
    }

    // ------------------------------------------------------------------ owner operations

    /// The product flow: an account holding USDC and no ETH approves and buys in one operation.
    function test_ownerBatchApprovesAndPurchasesWithoutEth() public {
        uint256 cost = uint256(USDC_PRICE) * 3;
        usdc.mint(address(account), cost);
        BaseAccount.Call[] memory calls = new BaseAccount.Call[](2);
        calls[0] =
            BaseAccount.Call(address(usdc), 0, abi.encodeCall(usdc.approve, (address(marketplace), cost)));
        calls[1] = BaseAccount.Call(
            address(marketplace), 0, abi.encodeCall(marketplace.purchase, (usdcAgentId, 3, USDC_PRICE))
        );

        uint256 depositBefore = entryPoint.balanceOf(address(paymaster));
        assertTrue(_handleAndReturnSuccess(_ownerOp(_executeBatch(calls))));

        uint256 creditId = CreditId.encode(usdcAgentId, USDC_PRICE);
        assertEq(marketplace.balanceOf(address(account), creditId), 3);
        assertEq(usdc.balanceOf(address(account)), 0);
        assertEq(address(account).balance, 0);
        assertLt(entryPoint.balanceOf(address(paymaster)), depositBefore, "the paymaster paid");
        assertGt(beneficiary.balance, 0, "the bundler was paid");
    }

    function test_ownerOperationPaidByTheAccountItself() public {
        vm.deal(address(account), 1 ether);
        PackedUserOperation memory op = _op(address(account), _execute(bob, 0.1 ether, ""));
        _signOwner(op, ownerKey);
        assertTrue(_handleAndReturnSuccess(op));
        assertEq(bob.balance, 0.1 ether);
        assertLt(address(account).balance, 0.9 ether, "gas came out of the account");
    }

    function test_failingCallInBatchRevertsTheWholeBatch() public {
        usdc.mint(address(account), 1e6);
        BaseAccount.Call[] memory calls = new BaseAccount.Call[](2);
        calls[0] = BaseAccount.Call(address(usdc), 0, abi.encodeCall(usdc.transfer, (bob, 1e6)));
        calls[1] = BaseAccount.Call(
            address(marketplace), 0, abi.encodeCall(marketplace.purchase, (usdcAgentId, 1, USDC_PRICE))
        );
        assertFalse(_handleAndReturnSuccess(_ownerOp(_executeBatch(calls))));
        assertEq(usdc.balanceOf(address(account)), 1e6);
        assertEq(usdc.balanceOf(bob), 0);
    }

    function test_wrongOwnerSignatureFails() public {
        PackedUserOperation memory op = _op(address(account), _execute(bob, 0, ""));
        _sponsor(op);
        _signOwner(op, strangerKey);
        _expectFailedOp("AA24 signature error");
        _handle(op);
    }

    function test_malformedSignatureReverts() public {
        PackedUserOperation memory op = _op(address(account), _execute(bob, 0, ""));
        _sponsor(op);
        _signOwner(op, ownerKey);
        op.signature = bytes.concat(hex"07", op.signature);
        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.InvalidSignatureFormat.selector, 7, 67));
        _handle(op);

        op.signature = "";
        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.InvalidSignatureFormat.selector, 255, 0));
        _handle(op);
    }

    function test_replayedOperationFails() public {
        PackedUserOperation memory op = _ownerOp(_execute(bob, 0, ""));
        _handle(op);
        _expectFailedOp("AA25 invalid account nonce");
        _handle(op);
    }

    function test_ownerCanCallDirectly() public {
        usdc.mint(address(account), 5e6);
        vm.prank(owner);
        account.execute(address(usdc), 0, abi.encodeCall(usdc.transfer, (bob, 5e6)));
        assertEq(usdc.balanceOf(bob), 5e6);
    }

    function test_strangerCannotExecute() public {
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotEntryPointOrOwner.selector, stranger));
        vm.prank(stranger);
        account.execute(bob, 0, "");
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotEntryPointOrOwner.selector, stranger));
        vm.prank(stranger);
        account.executeBatch(new BaseAccount.Call[](0));
    }

    function test_validateUserOpOnlyFromEntryPoint() public {
        PackedUserOperation memory op = _ownerOp(_execute(bob, 0, ""));
        vm.expectRevert("account: not from EntryPoint");
        vm.prank(owner);
        account.validateUserOp(op, bytes32(0), 0);
    }

    // ------------------------------------------------------------------ ownership

    function test_transferOwnershipThroughAnOperation() public {
        (address newOwner, uint256 newOwnerKey) = makeAddrAndKey("newOwner");
        _grantRequestKey(5);

        vm.expectEmit(address(account));
        emit INexusAccount.OwnershipTransferred(owner, newOwner);
        _handle(
            _ownerOp(_execute(address(account), 0, abi.encodeCall(account.transferOwnership, (newOwner))))
        );
        assertEq(account.owner(), newOwner);
        assertFalse(account.isSessionKeyActive(sessionKey), "an owner change voids session keys");

        PackedUserOperation memory op = _op(address(account), _execute(bob, 0, ""));
        _sponsor(op);
        _signOwner(op, ownerKey);
        _expectFailedOp("AA24 signature error");
        _handle(op);

        _signOwner(op, newOwnerKey);
        _handle(op);
    }

    function test_onlyOwnerOrSelfAdministers() public {
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotOwnerOrSelf.selector, stranger));
        account.transferOwnership(stranger);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotOwnerOrSelf.selector, stranger));
        account.revokeAllSessionKeys();
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotOwnerOrSelf.selector, stranger));
        account.withdrawDepositTo(payable(stranger), 0);
        address implementation = address(factory.accountImplementation());
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotOwnerOrSelf.selector, stranger));
        account.upgradeToAndCall(implementation, "");
        vm.stopPrank();
    }

    function test_transferOwnershipRejectsZeroAndSelf() public {
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidOwner.selector, address(0)));
        account.transferOwnership(address(0));
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidOwner.selector, address(account)));
        account.transferOwnership(address(account));
        vm.stopPrank();
    }

    /// Upgrading is also how an owner pins another paymaster for its session keys.
    function test_ownerUpgrades() public {
        address otherPaymaster = makeAddr("otherPaymaster");
        NexusAccount next = new NexusAccount(entryPoint, otherPaymaster);
        vm.prank(owner);
        account.upgradeToAndCall(address(next), "");
        bytes32 slot =
            vm.load(address(account), 0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc);
        assertEq(address(uint160(uint256(slot))), address(next));
        assertEq(account.owner(), owner, "storage survives the upgrade");
        assertEq(account.sessionKeyPaymaster(), otherPaymaster);
    }

    function test_storageLivesInItsErc7201Namespace() public view {
        bytes32 slot = keccak256(abi.encode(uint256(keccak256("agentnexus.storage.NexusAccount")) - 1))
            & ~bytes32(uint256(0xff));
        bytes32 word = vm.load(address(account), slot);
        assertEq(address(uint160(uint256(word))), owner);
        assertEq(uint48(uint256(word) >> 160), 1, "nextGrantId");
        assertEq(uint48(uint256(word) >> 208), 1, "minGrantId");
    }

    // ------------------------------------------------------------------ deposit

    function test_depositManagement() public {
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        account.addDeposit{value: 1 ether}();
        assertEq(account.getDeposit(), 1 ether);
        vm.prank(owner);
        account.withdrawDepositTo(payable(bob), 0.4 ether);
        assertEq(bob.balance, 0.4 ether);
        assertEq(account.getDeposit(), 0.6 ether);
    }

    // ------------------------------------------------------------------ ERC-1271 and ERC-165

    function _sign1271(NexusAccount target, uint256 key, bytes32 hash) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, target.replaySafeHash(hash));
        return abi.encodePacked(r, s, v);
    }

    function test_isValidSignatureAcceptsTheOwner() public view {
        bytes32 hash = keccak256("log in to AgentNexus");
        assertEq(
            account.isValidSignature(hash, _sign1271(account, ownerKey, hash)),
            IERC1271.isValidSignature.selector
        );
    }

    function test_isValidSignatureRejectsOthers() public {
        bytes32 hash = keccak256("log in to AgentNexus");
        assertEq(account.isValidSignature(hash, _sign1271(account, strangerKey, hash)), bytes4(0xffffffff));
        assertEq(account.isValidSignature(hash, _sign1271(account, sessionSecret, hash)), bytes4(0xffffffff));
        assertEq(account.isValidSignature(hash, hex"1234"), bytes4(0xffffffff));

        // The raw hash (not the replay-safe one) is refused.
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, hash);
        assertEq(account.isValidSignature(hash, abi.encodePacked(r, s, v)), bytes4(0xffffffff));

        // A signature for one account of the owner does not work on another of the same owner.
        NexusAccount second = _createAccount(owner, 1);
        assertEq(second.isValidSignature(hash, _sign1271(account, ownerKey, hash)), bytes4(0xffffffff));
        assertEq(
            second.isValidSignature(hash, _sign1271(second, ownerKey, hash)),
            IERC1271.isValidSignature.selector
        );
    }

    function test_isValidSignatureRejectsSessionKeys() public {
        _grantRequestKey(5);
        bytes32 hash = keccak256("permit");
        assertEq(account.isValidSignature(hash, _sign1271(account, sessionSecret, hash)), bytes4(0xffffffff));
    }

    function test_supportsInterfaces() public view {
        assertTrue(account.supportsInterface(type(IERC1271).interfaceId));
        assertTrue(account.supportsInterface(type(IERC1155Receiver).interfaceId));
        assertFalse(account.supportsInterface(0xdeadbeef));
    }

    /// Fuzz: only the owner's signature of the replay-safe hash validates.
    /// forge-config: default.fuzz.runs = 64
    /// forge-config: ci.fuzz.runs = 1000
    function testFuzz_isValidSignatureOnlyOwner(bytes32 hash, uint256 key) public view {
        key = bound(key, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        bytes4 expected = key == ownerKey ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
        assertEq(account.isValidSignature(hash, _sign1271(account, key, hash)), expected);
    }
}
