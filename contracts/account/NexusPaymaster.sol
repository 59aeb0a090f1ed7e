// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BasePaymaster} from "@account-abstraction/contracts/core/BasePaymaster.sol";
import {_packValidationData} from "@account-abstraction/contracts/core/Helpers.sol";
import {UserOperationLib} from "@account-abstraction/contracts/core/UserOperationLib.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @dev NexusPaymaster's sponsored mode byte and the exact length of a sponsored
/// `paymasterAndData`; file-level so `NexusAccount` (which lets session keys use only this mode)
/// shares them.
uint8 constant NEXUS_PAYMASTER_MODE_SPONSORED = 0x00;
uint256 constant NEXUS_PAYMASTER_SPONSORED_LENGTH = 130;

/// @title NexusPaymaster
/// @notice Verifying paymaster: it pays the gas of every user operation its sponsorship signer
/// approved, within the time window the signer gave. In sponsored mode the gas is a gift; in
/// ERC-20 mode the account pays it back in a token (USDC) at the exchange rate the signer quoted.
/// The owner manages the EntryPoint deposit and stake (inherited from `BasePaymaster`: `deposit`,
/// `withdrawTo`, `addStake`, `unlockStake`, `withdrawStake`; the EntryPoint emits their events),
/// withdraws collected tokens and rotates the signer.
/// @dev `paymasterAndData` (EntryPoint v0.8):
///   paymaster (20) ‖ paymasterVerificationGasLimit (16) ‖ postOpGasLimit (16) ‖ mode (1)
///   ‖ validUntil (6) ‖ validAfter (6)
///   ‖ [ERC-20 mode only: token (20) ‖ exchangeRate (32)]
///   ‖ signature (65).
/// Sponsored mode (0x00) is 130 bytes; ERC-20 mode (0x01) is 182 bytes.
/// The signer signs, EIP-191 style (`personal_sign` of the 32 bytes), `getHash(userOp, validUntil,
/// validAfter)` (sponsored) or `getTokenHash(userOp, validUntil, validAfter, token, exchangeRate)`
/// (ERC-20): every field of the operation but its signature and this paymaster signature, plus
/// the chain id and this paymaster's address. The hash covers sender and nonce, and the EntryPoint
/// uses each (sender, nonce) once, so one approval sponsors exactly one operation.
/// A wrong signer is reported as a signature failure (AA34), outside the window as AA32.
/// ERC-20 mode is paid up front, as Pimlico's ERC20PaymasterV07 does: validation pulls the
/// operation's maximum cost in tokens, `ceil(maxCost × exchangeRate / 1e18)` where `maxCost` is
/// the EntryPoint's prefund (every gas limit times `maxFeePerGas`), with `transferFrom`; `postOp`
/// keeps `ceil(chargedGas × exchangeRate / 1e18)` (at most what was pulled) and sends the rest
/// back. `chargedGas = actualGasCost + (POST_OP_GAS + postOpPenalty(postOpGasLimit)) × fee per
/// gas`: the cost the EntryPoint reports to `postOp` (which already holds its 10% penalty on
/// unused `callGasLimit`), plus what comes after that report, `postOp` itself and the penalty the
/// EntryPoint v0.8 charges on unused `postOpGasLimit` (see `postOpPenalty`). So the account must
/// hold and have approved the maximum cost before the operation (an approval inside the same
/// operation comes too late), and whatever it does during or between operations (revoking the
/// approval, moving its tokens) cannot leave the paymaster unpaid: a pull that fails fails
/// validation (AA33), and the bundler drops the operation before anyone pays for it.
/// The signer is kept in storage (it can be rotated), so bundlers require this paymaster to be
/// staked (ERC-7562), which also lets it touch the sender's token balance and allowance during
/// validation; the deploy script stakes it.
contract NexusPaymaster is BasePaymaster {
    using SafeERC20 for IERC20;

    /// @notice The paymaster's deposit pays; the account pays nothing.
    uint8 public constant MODE_SPONSORED = NEXUS_PAYMASTER_MODE_SPONSORED;
    /// @notice The paymaster's deposit pays; the account pays it back in a token after the operation.
    uint8 public constant MODE_ERC20 = 0x01;

    uint256 private constant MODE_OFFSET = PAYMASTER_DATA_OFFSET; // 52
    uint256 private constant VALID_UNTIL_OFFSET = MODE_OFFSET + 1; // 53
    uint256 private constant VALID_AFTER_OFFSET = VALID_UNTIL_OFFSET + 6; // 59
    uint256 private constant QUOTE_OFFSET = VALID_AFTER_OFFSET + 6; // 65
    uint256 private constant RATE_OFFSET = QUOTE_OFFSET + 20; // 85
    uint256 private constant SIGNATURE_LENGTH = 65;
    /// @notice Exact length of a sponsored operation's `paymasterAndData`.
    /// (QUOTE_OFFSET + SIGNATURE_LENGTH = 130; the tests check the two agree.)
    uint256 public constant PAYMASTER_AND_DATA_LENGTH = NEXUS_PAYMASTER_SPONSORED_LENGTH;
    /// @notice Exact length of an ERC-20-mode operation's `paymasterAndData`.
    uint256 public constant ERC20_PAYMASTER_AND_DATA_LENGTH = RATE_OFFSET + 32 + SIGNATURE_LENGTH; // 182
    /// @notice Gas charged for `postOp` itself and the EntryPoint's work after it (not part of the
    /// cost the EntryPoint reports to `postOp`); ERC-20-mode operations must give `postOpGasLimit`
    /// at least this much. Measured with an OpenZeppelin ERC-20 (TestUSDC): about 12,600 gas, so
    /// an operation is overcharged by about 27,400 gas; the headroom is for heavier tokens (the
    /// invariant tests check the charge never falls below what the deposit paid, and exceeds it by
    /// at most POST_OP_GAS).
    uint256 public constant POST_OP_GAS = 40_000;
    /// @dev EntryPoint v0.8's penalty on unused `postOpGasLimit`: 10% of the unused gas, when more
    /// than 40,000 gas is left unused (`EntryPoint._getUnusedGasPenalty`).
    uint256 private constant UNUSED_GAS_PENALTY_PERCENT = 10;
    uint256 private constant PENALTY_GAS_THRESHOLD = 40_000;

    /// @notice Approves sponsorships.
    address public signer;

    /// @notice The sponsorship signer changed.
    event SignerChanged(address indexed previousSigner, address indexed newSigner);
    /// @notice `account` prepaid `amount` of `token`, the operation's maximum cost (ERC-20 mode,
    /// during validation).
    event GasPrepaidInToken(address indexed account, address indexed token, uint256 amount);
    /// @notice `account` paid `amount` of `token` for `gasCost` wei of gas (ERC-20 mode); the rest
    /// of its prepayment was sent back to it.
    event GasPaidInToken(address indexed account, address indexed token, uint256 amount, uint256 gasCost);
    /// @notice The owner withdrew `amount` of collected `token` to `to`.
    event TokensWithdrawn(address indexed token, address indexed to, uint256 amount);

    /// @notice The signer, owner or a recipient cannot be the zero address.
    error InvalidAddress();
    /// @notice `paymasterAndData` has the wrong length for its mode.
    error InvalidPaymasterDataLength(uint256 length);
    /// @notice The mode byte names no supported mode.
    error UnsupportedMode(uint8 mode);
    /// @notice An ERC-20 quote needs a token and a non-zero exchange rate.
    error InvalidTokenQuote(address token, uint256 exchangeRate);
    /// @notice An ERC-20-mode operation gives `postOp` less than `POST_OP_GAS`.
    error PostOpGasTooLow(uint256 postOpGasLimit);

    /// @param anEntryPoint The EntryPoint v0.8 holding this paymaster's deposit and stake.
    /// @param owner_ Manages deposit, stake, collected tokens and signer.
    /// @param signer_ The first sponsorship signer.
    constructor(IEntryPoint anEntryPoint, address owner_, address signer_) BasePaymaster(anEntryPoint) {
        if (owner_ == address(0)) revert InvalidAddress();
        _transferOwnership(owner_);
        _setSigner(signer_);
    }

    /// @notice Replaces the sponsorship signer; approvals by the old one stop working at once.
    /// Owner only.
    /// @param newSigner The new sponsorship signer.
    function setSigner(address newSigner) external onlyOwner {
        _setSigner(newSigner);
    }

    /// @notice Sends `amount` of the tokens collected in ERC-20 mode to `to`. Owner only.
    /// @param token The token to withdraw.
    /// @param to The recipient.
    /// @param amount Token base units.
    function withdrawToken(IERC20 token, address to, uint256 amount) external onlyOwner {
        if (to == address(0)) revert InvalidAddress();
        emit TokensWithdrawn(address(token), to, amount);
        token.safeTransfer(to, amount);
    }

    /// @notice The hash the signer approves (before the EIP-191 prefix) for `userOp` sponsored
    /// (mode 0x00) between `validAfter` and `validUntil`.
    /// @param userOp The operation; its `signature` and the paymaster signature are not covered.
    /// @param validUntil Last timestamp the sponsorship is valid at (0 = no end).
    /// @param validAfter The sponsorship is valid after this timestamp.
    function getHash(PackedUserOperation calldata userOp, uint48 validUntil, uint48 validAfter)
        public
        view
        returns (bytes32)
    {
        return keccak256(bytes.concat(_opFields(userOp), abi.encode(MODE_SPONSORED, validUntil, validAfter)));
    }

    /// @notice The hash the signer approves (before the EIP-191 prefix) for `userOp` paid in
    /// `token` (mode 0x01) at `exchangeRate` between `validAfter` and `validUntil`.
    /// @param userOp The operation; its `signature` and the paymaster signature are not covered.
    /// @param validUntil Last timestamp the quote is valid at (0 = no end).
    /// @param validAfter The quote is valid after this timestamp.
    /// @param token The token the account pays in.
    /// @param exchangeRate Token base units per 1e18 wei of gas cost.
    function getTokenHash(
        PackedUserOperation calldata userOp,
        uint48 validUntil,
        uint48 validAfter,
        address token,
        uint256 exchangeRate
    ) public view returns (bytes32) {
        return keccak256(
            bytes.concat(
                _opFields(userOp), abi.encode(MODE_ERC20, validUntil, validAfter, token, exchangeRate)
            )
        );
    }

    /// @notice Splits the paymaster-specific part of `paymasterAndData`.
    /// @param paymasterAndData The whole field, as in the user operation.
    /// @return mode `MODE_SPONSORED` or `MODE_ERC20`.
    /// @return validUntil Last valid timestamp (0 = no end).
    /// @return validAfter Valid after this timestamp.
    /// @return token ERC-20 mode: the token charged (zero in sponsored mode).
    /// @return exchangeRate ERC-20 mode: token base units per 1e18 wei (zero in sponsored mode).
    /// @return signature The signer's 65-byte signature.
    function parsePaymasterData(bytes calldata paymasterAndData)
        public
        pure
        returns (
            uint8 mode,
            uint48 validUntil,
            uint48 validAfter,
            address token,
            uint256 exchangeRate,
            bytes calldata signature
        )
    {
        if (paymasterAndData.length <= MODE_OFFSET) {
            revert InvalidPaymasterDataLength(paymasterAndData.length);
        }
        mode = uint8(paymasterAndData[MODE_OFFSET]);
        uint256 expected;
        if (mode == MODE_SPONSORED) expected = PAYMASTER_AND_DATA_LENGTH;
        else if (mode == MODE_ERC20) expected = ERC20_PAYMASTER_AND_DATA_LENGTH;
        else revert UnsupportedMode(mode);
        if (paymasterAndData.length != expected) revert InvalidPaymasterDataLength(paymasterAndData.length);

        validUntil = uint48(bytes6(paymasterAndData[VALID_UNTIL_OFFSET:VALID_AFTER_OFFSET]));
        validAfter = uint48(bytes6(paymasterAndData[VALID_AFTER_OFFSET:QUOTE_OFFSET]));
        if (mode == MODE_ERC20) {
            token = address(bytes20(paymasterAndData[QUOTE_OFFSET:RATE_OFFSET]));
            exchangeRate = uint256(bytes32(paymasterAndData[RATE_OFFSET:RATE_OFFSET + 32]));
        }
        signature = paymasterAndData[expected - SIGNATURE_LENGTH:];
    }

    /// @notice The token amount an ERC-20-mode operation pays for `actualGasCost` wei at
    /// `feePerGas` and `exchangeRate` (what `postOp` keeps, capped by the prepayment).
    /// @param actualGasCost The gas cost the EntryPoint reports to `postOp`, in wei.
    /// @param feePerGas The operation's fee per gas, in wei.
    /// @param exchangeRate Token base units per 1e18 wei.
    /// @param postOpGasLimit The operation's `postOpGasLimit` (the EntryPoint's penalty on its
    /// unused part is charged too).
    /// @return amount Token base units, rounded up.
    /// @return gasCost The wei it stands for: `actualGasCost + (POST_OP_GAS +
    /// postOpPenalty(postOpGasLimit)) × feePerGas`.
    function tokenCost(uint256 actualGasCost, uint256 feePerGas, uint256 exchangeRate, uint256 postOpGasLimit)
        public
        pure
        returns (uint256 amount, uint256 gasCost)
    {
        gasCost = actualGasCost + (POST_OP_GAS + postOpPenalty(postOpGasLimit)) * feePerGas;
        amount = Math.mulDiv(gasCost, exchangeRate, 1e18, Math.Rounding.Ceil);
    }

    /// @notice The gas the EntryPoint v0.8 adds as a penalty for the unused part of
    /// `postOpGasLimit`, taking `postOp` (and the EntryPoint's work around it) to use `POST_OP_GAS`:
    /// 10% of `postOpGasLimit - POST_OP_GAS` when that exceeds 40,000, else nothing.
    /// @param postOpGasLimit The operation's `postOpGasLimit`.
    function postOpPenalty(uint256 postOpGasLimit) public pure returns (uint256) {
        if (postOpGasLimit <= POST_OP_GAS + PENALTY_GAS_THRESHOLD) return 0;
        return (postOpGasLimit - POST_OP_GAS) * UNUSED_GAS_PENALTY_PERCENT / 100;
    }

    /// @notice The tokens an ERC-20-mode operation prepays during validation: its maximum cost,
    /// `ceil(maxCost × exchangeRate / 1e18)`.
    /// @param maxCost The EntryPoint's prefund for the operation (every gas limit times
    /// `maxFeePerGas`), in wei.
    /// @param exchangeRate Token base units per 1e18 wei.
    function tokenPrefund(uint256 maxCost, uint256 exchangeRate) public pure returns (uint256) {
        return Math.mulDiv(maxCost, exchangeRate, 1e18, Math.Rounding.Ceil);
    }

    /// @dev Sponsored mode returns no context (no `postOp`). ERC-20 mode pulls the maximum cost in
    /// tokens from the sender (whatever the signature: a wrong one fails the whole operation, and
    /// simulations then measure the real work) and returns what `postOp` needs to settle.
    function _validatePaymasterUserOp(PackedUserOperation calldata userOp, bytes32, uint256 maxCost)
        internal
        override
        returns (bytes memory context, uint256 validationData)
    {
        (
            uint8 mode,
            uint48 validUntil,
            uint48 validAfter,
            address token,
            uint256 exchangeRate,
            bytes calldata signature
        ) = parsePaymasterData(userOp.paymasterAndData);

        bytes32 hash;
        if (mode == MODE_SPONSORED) {
            hash = getHash(userOp, validUntil, validAfter);
        } else {
            if (token == address(0) || exchangeRate == 0) revert InvalidTokenQuote(token, exchangeRate);
            uint256 postOpGasLimit = UserOperationLib.unpackPostOpGasLimit(userOp);
            if (postOpGasLimit < POST_OP_GAS) revert PostOpGasTooLow(postOpGasLimit);
            hash = getTokenHash(userOp, validUntil, validAfter, token, exchangeRate);
            uint256 prefund = tokenPrefund(maxCost, exchangeRate);
            context = abi.encode(userOp.sender, token, exchangeRate, prefund, postOpGasLimit);
            emit GasPrepaidInToken(userOp.sender, token, prefund);
            IERC20(token).safeTransferFrom(userOp.sender, address(this), prefund);
        }
        (address recovered, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(MessageHashUtils.toEthSignedMessageHash(hash), signature);
        bool sigFailed = err != ECDSA.RecoverError.NoError || recovered != signer;
        validationData = _packValidationData(sigFailed, validUntil, validAfter);
    }

    /// @dev ERC-20 mode only (sponsored mode has no context): keeps the gas cost in tokens out of
    /// the prepayment, whether the execution succeeded or reverted, and refunds the rest. Should
    /// the refund fail, the EntryPoint reverts the execution and the paymaster keeps the whole
    /// prepayment (it is never left unpaid).
    function _postOp(PostOpMode, bytes calldata context, uint256 actualGasCost, uint256 actualUserOpFeePerGas)
        internal
        override
    {
        (address account, address token, uint256 exchangeRate, uint256 prefund, uint256 postOpGasLimit) =
            abi.decode(context, (address, address, uint256, uint256, uint256));
        (uint256 amount, uint256 gasCost) =
            tokenCost(actualGasCost, actualUserOpFeePerGas, exchangeRate, postOpGasLimit);
        // The EntryPoint never charges more than the prefund, so this only trims the estimate.
        if (amount > prefund) amount = prefund;
        emit GasPaidInToken(account, token, amount, gasCost);
        uint256 refund = prefund - amount;
        if (refund != 0) IERC20(token).safeTransfer(account, refund);
    }

    /// @dev The operation's fields the signer approves, with the chain and this paymaster. The
    /// hashes are therefore `keccak256(abi.encode(sender, nonce, keccak256(initCode),
    /// keccak256(callData), accountGasLimits, paymasterGasLimits, preVerificationGas, gasFees,
    /// chainId, paymaster, mode, validUntil, validAfter[, token, exchangeRate]))`.
    function _opFields(PackedUserOperation calldata userOp) private view returns (bytes memory) {
        bytes calldata pmd = userOp.paymasterAndData;
        if (pmd.length < MODE_OFFSET) revert InvalidPaymasterDataLength(pmd.length);
        return abi.encode(
            userOp.sender,
            userOp.nonce,
            keccak256(userOp.initCode),
            keccak256(userOp.callData),
            userOp.accountGasLimits,
            // paymasterVerificationGasLimit ‖ postOpGasLimit
            bytes32(pmd[UserOperationLib.PAYMASTER_VALIDATION_GAS_OFFSET:MODE_OFFSET]),
            userOp.preVerificationGas,
            userOp.gasFees,
            block.chainid,
            address(this)
        );
    }

    function _setSigner(address newSigner) private {
        if (newSigner == address(0)) revert InvalidAddress();
        emit SignerChanged(signer, newSigner);
        signer = newSigner;
    }
}
