// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {IStakeManager} from "@account-abstraction/contracts/interfaces/IStakeManager.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {NexusAccount} from "../../contracts/account/NexusAccount.sol";
import {NexusPaymaster} from "../../contracts/account/NexusPaymaster.sol";
import {AccountTest} from "./AccountFixtures.sol";

/// @notice The verifying paymaster: sponsorship, its window, replay protection and the owner's
/// deposit, stake and signer management.
contract NexusPaymasterTest is AccountTest {
    function _transferOp(address sender) internal view returns (PackedUserOperation memory) {
        return _op(sender, _execute(address(usdc), 0, abi.encodeCall(usdc.transfer, (bob, 1e6))));
    }

    function setUp() public override {
        super.setUp();
        usdc.mint(address(account), 100e6);
    }

    // ------------------------------------------------------------------ sponsorship

    function test_sponsoredOperationCostsTheAccountNothing() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        _signOwner(op, ownerKey);
        uint256 depositBefore = paymaster.getDeposit();

        _handle(op);
        uint256 paid = depositBefore - paymaster.getDeposit();
        assertGt(paid, 0);
        assertEq(beneficiary.balance, paid, "the bundler got what the paymaster paid");
        assertEq(address(account).balance, 0);
        assertEq(entryPoint.balanceOf(address(account)), 0);
        assertEq(usdc.balanceOf(bob), 1e6);
    }

    function test_operationEventNamesThePaymaster() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        _signOwner(op, ownerKey);
        bytes32 userOpHash = entryPoint.getUserOpHash(op);
        vm.expectEmit(true, true, true, false, address(entryPoint));
        emit IEntryPoint.UserOperationEvent(userOpHash, address(account), address(paymaster), 0, true, 0, 0);
        _handle(op);
    }

    function test_parsePaymasterData() public view {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op, 1_800_000_000, 1_700_000_000, sponsorKey);
        (
            uint8 mode,
            uint48 validUntil,
            uint48 validAfter,
            address token,
            uint256 rate,
            bytes memory signature
        ) = paymaster.parsePaymasterData(op.paymasterAndData);
        assertEq(mode, 0);
        assertEq(token, address(0));
        assertEq(rate, 0);
        assertEq(validUntil, 1_800_000_000);
        assertEq(validAfter, 1_700_000_000);
        assertEq(signature.length, 65);
        assertEq(op.paymasterAndData.length, paymaster.PAYMASTER_AND_DATA_LENGTH());
    }

    // ------------------------------------------------------------------ replay

    function test_sameOperationCannotBeSponsoredTwice() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        _signOwner(op, ownerKey);
        _handle(op);
        _expectFailedOp("AA25 invalid account nonce");
        _handle(op);
    }

    function test_approvalDoesNotCoverTheNextNonce() public {
        PackedUserOperation memory first = _transferOp(address(account));
        _sponsor(first);
        _signOwner(first, ownerKey);
        _handle(first);

        // The same approval reused on the account's next operation (next nonce).
        PackedUserOperation memory second = _transferOp(address(account));
        second.paymasterAndData = first.paymasterAndData;
        _signOwner(second, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(second);
    }

    function test_approvalDoesNotCoverAnotherSender() public {
        (address carol, uint256 carolKey) = makeAddrAndKey("carol");
        NexusAccount other = _createAccount(carol, 0);
        usdc.mint(address(other), 100e6);

        PackedUserOperation memory approved = _transferOp(address(account));
        _sponsor(approved);

        PackedUserOperation memory stolen = _transferOp(address(other));
        stolen.paymasterAndData = approved.paymasterAndData;
        _signOwner(stolen, carolKey);
        _expectFailedOp("AA34 signature error");
        _handle(stolen);
    }

    function test_approvalDoesNotCoverOtherCallData() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        op.callData = _execute(address(usdc), 0, abi.encodeCall(usdc.transfer, (stranger, 100e6)));
        _signOwner(op, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(op);
    }

    function test_approvalDoesNotCoverHigherGasPrices() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        op.gasFees = bytes32(uint256(MAX_PRIORITY_FEE) << 128 | (MAX_FEE * 10));
        _signOwner(op, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(op);
    }

    function test_approvalDoesNotCoverAnotherWindow() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op, uint48(block.timestamp + 60), 0, sponsorKey);
        // Stretch the window without a new approval.
        bytes memory pmd = op.paymasterAndData;
        bytes memory stretched = bytes.concat(
            _paymasterPrefix(uint48(block.timestamp + 365 days), 0), _slice(pmd, 65, pmd.length)
        );
        op.paymasterAndData = stretched;
        _signOwner(op, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(op);
    }

    /// Pins the documented formula, which the sponsorship service computes off-chain.
    function test_hashFormula() public view {
        PackedUserOperation memory op = _transferOp(address(account));
        op.paymasterAndData = _paymasterPrefix(0, 0);
        bytes32 gasLimits = bytes32(uint256(PM_VERIFICATION_GAS) << 128);
        bytes memory fields = abi.encode(
            op.sender,
            op.nonce,
            keccak256(op.initCode),
            keccak256(op.callData),
            op.accountGasLimits,
            gasLimits,
            op.preVerificationGas,
            op.gasFees,
            block.chainid,
            address(paymaster)
        );
        assertEq(
            paymaster.getHash(op, 77, 11),
            keccak256(bytes.concat(fields, abi.encode(uint8(0), uint48(77), uint48(11))))
        );
        assertEq(
            paymaster.getTokenHash(op, 77, 11, address(usdc), 3e9),
            keccak256(
                bytes.concat(
                    fields, abi.encode(uint8(1), uint48(77), uint48(11), address(usdc), uint256(3e9))
                )
            )
        );
    }

    function test_hashCoversChainAndPaymaster() public {
        PackedUserOperation memory op = _transferOp(address(account));
        op.paymasterAndData = _paymasterPrefix(0, 0);
        bytes32 hash = paymaster.getHash(op, 0, 0);

        NexusPaymaster twin = new NexusPaymaster(entryPoint, paymasterOwner, sponsor);
        assertNotEq(twin.getHash(op, 0, 0), hash, "another paymaster");
        assertNotEq(paymaster.getHash(op, 1, 0), hash, "another window");
        vm.chainId(1);
        assertNotEq(paymaster.getHash(op, 0, 0), hash, "another chain");
    }

    // ------------------------------------------------------------------ wrong signer, window

    function test_wrongSignerFails() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op, uint48(block.timestamp + 1 hours), 0, strangerKey);
        _signOwner(op, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(op);
    }

    function test_expiredApprovalFails() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op, uint48(block.timestamp + 60), 0, sponsorKey);
        _signOwner(op, ownerKey);
        vm.warp(block.timestamp + 61);
        _expectFailedOp("AA32 paymaster expired or not due");
        _handle(op);
    }

    function test_approvalNotYetValidFails() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op, uint48(block.timestamp + 1 hours), uint48(block.timestamp + 60), sponsorKey);
        _signOwner(op, ownerKey);
        _expectFailedOp("AA32 paymaster expired or not due");
        _handle(op);
        vm.warp(block.timestamp + 61);
        _handle(op);
        assertEq(usdc.balanceOf(bob), 1e6);
    }

    function test_malformedPaymasterDataReverts() public {
        PackedUserOperation memory op = _transferOp(address(account));
        op.paymasterAndData = _paymasterPrefix(0, 0);
        _signOwner(op, ownerKey);
        _expectPaymasterRevert(abi.encodeWithSelector(NexusPaymaster.InvalidPaymasterDataLength.selector, 65));
        _handle(op);
    }

    function test_unknownModeReverts() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        op.paymasterAndData[52] = 0x02;
        _signOwner(op, ownerKey);
        _expectPaymasterRevert(abi.encodeWithSelector(NexusPaymaster.UnsupportedMode.selector, 2));
        _handle(op);
    }

    function test_depositTooLowFails() public {
        vm.prank(paymasterOwner);
        paymaster.withdrawTo(payable(paymasterOwner), PAYMASTER_DEPOSIT);
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        _signOwner(op, ownerKey);
        _expectFailedOp("AA31 paymaster deposit too low");
        _handle(op);
    }

    // ------------------------------------------------------------------ signer rotation

    function test_rotatedSignerReplacesTheOldOne() public {
        (address newSigner, uint256 newSignerKey) = makeAddrAndKey("newSigner");
        vm.expectEmit(address(paymaster));
        emit NexusPaymaster.SignerChanged(sponsor, newSigner);
        vm.prank(paymasterOwner);
        paymaster.setSigner(newSigner);
        assertEq(paymaster.signer(), newSigner);

        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        _signOwner(op, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(op);

        _sponsor(op, uint48(block.timestamp + 1 hours), 0, newSignerKey);
        _signOwner(op, ownerKey);
        _handle(op);
        assertEq(usdc.balanceOf(bob), 1e6);
    }

    function test_onlyOwnerManages() public {
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.setSigner(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.withdrawTo(payable(stranger), 1);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.addStake(1 days);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.unlockStake();
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.withdrawStake(payable(stranger));
        vm.stopPrank();
    }

    function test_constructorAndSetterRejectZero() public {
        vm.expectRevert(NexusPaymaster.InvalidAddress.selector);
        new NexusPaymaster(entryPoint, address(0), sponsor);
        vm.expectRevert(NexusPaymaster.InvalidAddress.selector);
        new NexusPaymaster(entryPoint, paymasterOwner, address(0));
        vm.expectRevert(NexusPaymaster.InvalidAddress.selector);
        vm.prank(paymasterOwner);
        paymaster.setSigner(address(0));
    }

    function test_onlyEntryPointValidates() public {
        PackedUserOperation memory op = _transferOp(address(account));
        _sponsor(op);
        vm.expectRevert("Sender not EntryPoint");
        paymaster.validatePaymasterUserOp(op, bytes32(0), 0);
    }

    // ------------------------------------------------------------------ deposit and stake

    function test_depositAndWithdraw() public {
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        paymaster.deposit{value: 1 ether}();
        assertEq(paymaster.getDeposit(), PAYMASTER_DEPOSIT + 1 ether);

        vm.prank(paymasterOwner);
        paymaster.withdrawTo(payable(bob), 2 ether);
        assertEq(bob.balance, 2 ether);
        assertEq(paymaster.getDeposit(), PAYMASTER_DEPOSIT - 1 ether);
    }

    function test_stakeLifecycle() public {
        vm.startPrank(paymasterOwner);
        paymaster.addStake{value: 1 ether}(1 days);
        IStakeManager.DepositInfo memory info = entryPoint.getDepositInfo(address(paymaster));
        assertTrue(info.staked);
        assertEq(info.stake, 1 ether);
        assertEq(info.unstakeDelaySec, 1 days);

        paymaster.unlockStake();
        vm.expectRevert("Stake withdrawal is not due");
        paymaster.withdrawStake(payable(bob));
        vm.warp(block.timestamp + 1 days);
        paymaster.withdrawStake(payable(bob));
        vm.stopPrank();
        assertEq(bob.balance, 1 ether);
        assertFalse(entryPoint.getDepositInfo(address(paymaster)).staked);
    }

    function test_ownershipIsTwoStep() public {
        vm.prank(paymasterOwner);
        paymaster.transferOwnership(alice);
        assertEq(paymaster.owner(), paymasterOwner);
        vm.prank(alice);
        paymaster.acceptOwnership();
        assertEq(paymaster.owner(), alice);
    }

    // ------------------------------------------------------------------ helpers

    function _slice(bytes memory data, uint256 from, uint256 to) internal pure returns (bytes memory out) {
        out = new bytes(to - from);
        for (uint256 i = from; i < to; ++i) {
            out[i - from] = data[i];
        }
    }
}
