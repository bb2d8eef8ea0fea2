// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// The Hub functions the executor calls (contracts/Hub.sol).
interface IAuctionHub {
    function assets(uint16 assetId)
        external
        view
        returns (
            address feed,
            uint256 priceScale,
            uint8 decimals,
            IERC20 token,
            uint64 ltv,
            uint64 liquidationThreshold,
            uint32 heartbeat,
            bool listed
        );

    function kick(address account) external returns (uint64 auctionId);

    function take(
        address account,
        uint16 debtAssetId,
        uint256 maxRepay,
        uint32 eid,
        uint16 collateralAssetId,
        uint256 minSeize,
        address receiver
    ) external payable returns (uint256 repayAmount, uint256 seizeAmount);
}

/// @title SalvageExecutor
/// @notice A liquidator's batch executor: kicks and takes Dutch auctions for many accounts in one
/// transaction, each order isolated so that one revert does not sink the rest.
///
/// An order kicks the account's auction (unless one is running: the hub's `AuctionActive` is ignored) and/or
/// takes it. The debt tokens a take repays are pulled from the owner (who approves this contract) and the
/// unused part is returned in the same order; the LayerZero fee of each SEIZE comes from msg.value, and
/// whatever is left (fees of failed orders, refunds) goes back to the owner at the end. Each order's outcome
/// is an event: `Executed` or `Failed` with the raw revert data, which the relayer decodes by error name.
contract SalvageExecutor {
    using SafeERC20 for IERC20;

    struct Order {
        address account;
        /// Kick first (skipped when an auction is already running).
        bool kick;
        /// Take after the kick; false for a kick alone (waiting for the bonus to grow).
        bool take;
        uint16 debtAssetId;
        uint256 maxRepay;
        uint32 eid;
        uint16 collateralAssetId;
        uint256 minSeize;
        /// Native fee of the take's SEIZE message (Hub.quoteSpokeMessage).
        uint256 fee;
    }

    IAuctionHub public immutable hub;
    address public immutable owner;

    event Executed(uint256 indexed index, address indexed account, bool kicked, uint256 repayAmount, uint256 seizeAmount);
    event Failed(uint256 indexed index, address indexed account, bytes reason);

    error NotOwner();
    error OnlySelf();
    error FeeMismatch(uint256 sent, uint256 needed);

    /// Hub.AuctionActive(uint64): the account is already in a running auction.
    bytes4 internal constant AUCTION_ACTIVE = bytes4(keccak256("AuctionActive(uint64)"));

    constructor(IAuctionHub hub_, address owner_) {
        hub = hub_;
        owner = owner_;
    }

    receive() external payable { }

    /// @notice Executes every order in turn; a reverting order is reported and skipped.
    function execute(Order[] calldata orders, address receiver) external payable {
        if (msg.sender != owner) revert NotOwner();
        uint256 needed;
        for (uint256 i; i < orders.length; ++i) {
            if (orders[i].take) needed += orders[i].fee;
        }
        if (msg.value != needed) revert FeeMismatch(msg.value, needed);
        for (uint256 i; i < orders.length; ++i) {
            Order calldata o = orders[i];
            try this.executeOne{ value: o.take ? o.fee : 0 }(o, receiver) returns (bool kicked, uint256 repayAmount, uint256 seizeAmount) {
                emit Executed(i, o.account, kicked, repayAmount, seizeAmount);
            } catch (bytes memory reason) {
                emit Failed(i, o.account, reason);
            }
        }
        uint256 left = address(this).balance;
        if (left != 0) {
            (bool ok,) = owner.call{ value: left }("");
            ok; // An owner that refuses ETH keeps it here; it is returned with the next batch.
        }
    }

    /// @dev One order, called by `execute` on itself so that everything it did reverts together.
    function executeOne(Order calldata o, address receiver)
        external
        payable
        returns (bool kicked, uint256 repayAmount, uint256 seizeAmount)
    {
        if (msg.sender != address(this)) revert OnlySelf();
        if (o.kick) {
            try hub.kick(o.account) {
                kicked = true;
            } catch (bytes memory reason) {
                if (reason.length < 4 || bytes4(reason) != AUCTION_ACTIVE) _bubble(reason);
            }
        }
        if (!o.take) return (kicked, 0, 0);
        (,,, IERC20 token,,,,) = hub.assets(o.debtAssetId);
        token.safeTransferFrom(owner, address(this), o.maxRepay);
        if (token.allowance(address(this), address(hub)) < o.maxRepay) token.forceApprove(address(hub), type(uint256).max);
        (repayAmount, seizeAmount) =
            hub.take{ value: msg.value }(o.account, o.debtAssetId, o.maxRepay, o.eid, o.collateralAssetId, o.minSeize, receiver);
        if (o.maxRepay > repayAmount) token.safeTransfer(owner, o.maxRepay - repayAmount);
    }

    function _bubble(bytes memory reason) private pure {
        assembly {
            revert(add(reason, 32), mload(reason))
        }
    }
}
